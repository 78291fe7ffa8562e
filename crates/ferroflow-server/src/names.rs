//! Run names for runs created without one, in MLflow's shape: `<adjective>-<noun>-<0..999>`.
//! The word lists are Ferroflow's own; only the shape matters to users and tools.

const ADJECTIVES: &[&str] = &[
    "agile", "amber", "bold", "brave", "bright", "calm", "clever", "crisp", "curious", "daring",
    "eager", "fast", "fearless", "gentle", "glad", "golden", "grand", "happy", "honest", "humble",
    "keen", "kind", "lively", "loyal", "lucky", "merry", "mighty", "nimble", "noble", "patient",
    "polite", "proud", "quick", "quiet", "rapid", "sharp", "shy", "silent", "smooth", "steady",
    "sunny", "swift", "tidy", "upbeat", "vivid", "warm", "wise", "witty", "zesty", "zealous",
];

const NOUNS: &[&str] = &[
    "anvil", "badger", "beacon", "bison", "brook", "cedar", "comet", "crane", "delta", "ember",
    "falcon", "fern", "finch", "fjord", "forge", "fox", "glacier", "harbor", "hawk", "heron",
    "island", "kestrel", "lake", "lark", "lynx", "maple", "meadow", "mole", "moth", "oak", "orca",
    "otter", "owl", "panda", "pebble", "pine", "quarry", "raven", "reef", "ridge", "river",
    "robin", "salmon", "sparrow", "spruce", "stone", "summit", "tern", "trout", "wolf",
];

/// A fresh random run name.
pub fn generate_run_name() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let a = u16::from_le_bytes([bytes[0], bytes[1]]) as usize % ADJECTIVES.len();
    let n = u16::from_le_bytes([bytes[2], bytes[3]]) as usize % NOUNS.len();
    let num = u16::from_le_bytes([bytes[4], bytes[5]]) % 1000;
    format!("{}-{}-{}", ADJECTIVES[a], NOUNS[n], num)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_have_mlflows_shape() {
        for _ in 0..200 {
            let name = generate_run_name();
            let parts: Vec<&str> = name.split('-').collect();
            assert_eq!(parts.len(), 3, "{name}");
            assert!(parts[0].chars().all(|c| c.is_ascii_lowercase()), "{name}");
            assert!(parts[1].chars().all(|c| c.is_ascii_lowercase()), "{name}");
            assert!(parts[2].parse::<u16>().is_ok_and(|n| n < 1000), "{name}");
        }
    }
}
