#![allow(clippy::unwrap_used)]
use ferroflow_search::*;
#[test]
fn probe() {
    let text = std::fs::read_to_string("/tmp/probe/cases.tsv").unwrap();
    for line in text.lines() {
        let (kind, arg) = line.split_once('\t').unwrap();
        let ob: Vec<String> = arg.split('|').map(|s| s.to_string()).collect();
        let r: Result<(), SearchError> = match kind {
            "runs" => parse_run_filter(arg).map(|_| ()),
            "runs_ob" => parse_run_order_by(&ob).map(|_| ()),
            "exp" => parse_experiment_filter(arg).map(|_| ()),
            "exp_ob" => parse_experiment_order_by(&ob).map(|_| ()),
            "rm" => parse_registered_model_filter(arg).map(|_| ()),
            "rm_ob" => parse_registered_model_order_by(&ob).map(|_| ()),
            "mv" => parse_model_version_filter(arg).map(|_| ()),
            "mv_ob" => parse_model_version_order_by(&ob).map(|_| ()),
            "lm" => parse_logged_model_filter(arg).map(|_| ()),
            _ => panic!(),
        };
        println!("{kind:7} {arg:?}\n    => {}", match r { Ok(()) => "OK".to_string(), Err(e) => format!("{} @{:?}", e.message, e.position) });
    }
}
