//! Sampled metric histories for charts (`metrics/get-history-bulk-interval`).
//!
//! MLflow 3.18 picks the points by row, not by step: the run's rows for the metric (within
//! `[start_step, end_step]` when given) are ordered by (step, timestamp, value, is_nan) and
//! cut into `max_results` NTILE buckets; the first row of each bucket is kept, and the very
//! last row replaces the last bucket's first so the end of the curve is always there. With no
//! more rows than `max_results`, every row comes back. [`sample_positions`] is that rule.
//!
//! Doing it in SQL walks every row (a million-step loss is ~0.1 s for a `COUNT(*)` alone on
//! SQLite, more on a server database), so charts of long runs would never be quick. Instead
//! each (run, metric) gets a [`StepCounts`]: how many rows each step has, run-length encoded
//! (a loss logged once per step is one segment, whatever its length). From it the positions
//! MLflow would keep turn into (step, n-th row of that step) pairs, and only the rows of those
//! steps are read, through MLflow's `(run_uuid, key, step)` index.
//!
//! The counts are cached ([`HistoryCache`], bounded in bytes) and kept right:
//! - writes through this process mark the metric dirty from the lowest step they wrote, and
//!   the next read recounts only from there (an appending run recounts a few steps);
//! - writes by another process (a replica) show in `latest_metrics`, whose step only grows:
//!   a changed latest point recounts from the old last step;
//! - anything else (another process back-filling old steps) is picked up when the entry
//!   expires, [`ENTRY_TTL`] after it was built;
//! - a chosen step whose rows no longer match its count (a write raced the read) drops the
//!   entry and the answer is computed from the rows themselves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferroflow_types::tracking::Metric;

use crate::args;
use crate::db::{placeholders, Db, DbResult, Value, Wrapped};

/// How long counts may be trusted without a full recount (see the module notes).
pub const ENTRY_TTL: Duration = Duration::from_secs(60);

/// Steps per `IN (...)` list when reading the chosen steps' rows.
const STEP_CHUNK: usize = 500;

/// The row positions (0-based, in (step, timestamp, value, is_nan) order) MLflow 3.18 returns
/// out of `total` rows for `max_results`.
pub fn sample_positions(total: u64, max_results: u64) -> Vec<u64> {
    let max_results = max_results.max(1);
    if total <= max_results {
        return (0..total).collect();
    }
    // NTILE: the first `total % m` buckets hold one row more than the others.
    let (q, r) = (total / max_results, total % max_results);
    let mut out: Vec<u64> = (0..max_results - 1).map(|b| b * q + b.min(r)).collect();
    out.push(total - 1);
    out
}

/// A run of steps `first, first + delta, ...` (`steps` of them) with the same row count each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    first: i64,
    delta: i64,
    steps: u64,
    rows_per_step: u64,
}

impl Segment {
    fn step(&self, i: u64) -> i64 {
        (self.first as i128 + self.delta as i128 * i as i128) as i64
    }

    fn last(&self) -> i64 {
        self.step(self.steps - 1)
    }

    /// How many of this segment's steps are below `bound`.
    fn steps_below(&self, bound: i128) -> u64 {
        if (self.first as i128) >= bound {
            0
        } else if self.steps == 1 {
            1
        } else {
            let n = (bound - 1 - self.first as i128) / self.delta as i128 + 1;
            n.clamp(0, self.steps as i128) as u64
        }
    }
}

/// How many rows a metric has at each step, in step order, run-length encoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepCounts {
    segments: Vec<Segment>,
}

impl StepCounts {
    /// Adds the count of the next step (steps must come in increasing order).
    pub fn push(&mut self, step: i64, rows: u64) {
        if let Some(last) = self.segments.last_mut() {
            let next = last.last() as i128;
            let delta = step as i128 - next;
            if last.rows_per_step == rows && delta > 0 && delta <= i64::MAX as i128 {
                if last.steps == 1 {
                    last.delta = delta as i64;
                    last.steps = 2;
                    return;
                }
                if delta == last.delta as i128 {
                    last.steps += 1;
                    return;
                }
            }
        }
        self.segments.push(Segment {
            first: step,
            delta: 1,
            steps: 1,
            rows_per_step: rows,
        });
    }

    /// Forgets every step `>= step` (they are about to be counted again).
    pub fn truncate_from(&mut self, step: i64) {
        while let Some(last) = self.segments.last_mut() {
            let keep = last.steps_below(step as i128);
            if keep == last.steps {
                break;
            }
            if keep == 0 {
                self.segments.pop();
            } else {
                last.steps = keep;
                break;
            }
        }
    }

    pub fn last_step(&self) -> Option<i64> {
        self.segments.last().map(Segment::last)
    }

    /// Rows at steps below `bound`.
    fn rows_below(&self, bound: i128) -> u64 {
        let mut rows = 0;
        for s in &self.segments {
            let n = s.steps_below(bound);
            rows += n * s.rows_per_step;
            if n < s.steps {
                break;
            }
        }
        rows
    }

    /// Memory an entry holds, for the cache's budget: the segments plus what every entry
    /// costs besides (its key's two strings, the map slot, the entry itself).
    pub fn bytes(&self) -> usize {
        self.segments.capacity() * std::mem::size_of::<Segment>() + 256
    }

    /// The (step, n-th row within the step) of each position (ascending, counted from the
    /// first row of the whole history).
    fn locate(&self, positions: &[u64]) -> Vec<(i64, u64)> {
        let mut out = Vec::with_capacity(positions.len());
        let mut segs = self.segments.iter();
        let mut seg = segs.next();
        let mut seg_start = 0u64;
        for &p in positions {
            while let Some(s) = seg {
                let len = s.steps * s.rows_per_step;
                if p < seg_start + len {
                    break;
                }
                seg_start += len;
                seg = segs.next();
            }
            let Some(s) = seg else { break };
            let within = p - seg_start;
            out.push((s.step(within / s.rows_per_step), within % s.rows_per_step));
        }
        out
    }

    /// Rows at `step`, when the counts know it.
    fn rows_at(&self, step: i64) -> u64 {
        let bound = step as i128;
        for s in &self.segments {
            if (s.first as i128) > bound {
                return 0;
            }
            if bound <= s.last() as i128 {
                let off = bound - s.first as i128;
                return if off % s.delta as i128 == 0 {
                    s.rows_per_step
                } else {
                    0
                };
            }
        }
        0
    }
}

/// What `latest_metrics` said when the counts were made: the step only grows, so any later
/// point logged by another process changes it.
type Latest = (i64, i64, f64, bool);

struct Entry {
    counts: Arc<StepCounts>,
    latest: Latest,
    built: Instant,
    used: Instant,
    /// Lowest step written through this process since the counts were made.
    dirty_from: Option<i64>,
    /// Bumped by every write through this process, so a recount that raced a write is not
    /// taken as clean.
    generation: u64,
}

/// The per-(run, metric) step counts, within a memory budget.
pub struct HistoryCache {
    budget: std::sync::atomic::AtomicUsize,
    state: Mutex<CacheState>,
}

#[derive(Default)]
struct CacheState {
    entries: HashMap<(String, String), Entry>,
    bytes: usize,
}

impl HistoryCache {
    /// A cache that holds at most `budget` bytes of counts (0 turns caching off).
    pub fn new(budget: usize) -> HistoryCache {
        HistoryCache {
            budget: budget.into(),
            state: Mutex::new(CacheState::default()),
        }
    }

    pub fn set_budget(&self, bytes: usize) {
        self.budget
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    fn budget(&self) -> usize {
        self.budget.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the metrics just written to `run_id` as changed from their lowest step on.
    pub fn wrote(&self, run_id: &str, metrics: &[Metric]) {
        let mut state = self.lock();
        if state.entries.is_empty() {
            return;
        }
        let mut lowest: HashMap<&str, i64> = HashMap::new();
        for m in metrics {
            let e = lowest.entry(m.key.as_str()).or_insert(m.step);
            *e = (*e).min(m.step);
        }
        for (key, step) in lowest {
            if let Some(e) = state
                .entries
                .get_mut(&(run_id.to_string(), key.to_string()))
            {
                e.dirty_from = Some(e.dirty_from.map_or(step, |d| d.min(step)));
                e.generation += 1;
            }
        }
    }

    fn remove(&self, key: &(String, String)) {
        let mut state = self.lock();
        if let Some(e) = state.entries.remove(key) {
            state.bytes -= e.counts.bytes();
        }
    }

    /// The step counts of `run_id`'s `metric_key`, recounted as far as needed; `None` when
    /// the metric has no rows.
    fn counts(
        &self,
        db: &mut dyn Db,
        run_id: &str,
        metric_key: &str,
    ) -> Result<Option<Arc<StepCounts>>, Wrapped> {
        let Some(latest) = db.query_opt(
            "SELECT step, timestamp, value, is_nan FROM latest_metrics WHERE run_uuid = ? AND \"key\" = ?",
            &args![run_id, metric_key],
            |r| Ok((r.get::<i64>(0)?, r.get::<i64>(1)?, r.get::<f64>(2)?, r.get::<bool>(3)?)),
        )?
        else {
            return Ok(None);
        };
        let key = (run_id.to_string(), metric_key.to_string());
        let now = Instant::now();
        // What is cached, and from which step it must be recounted (None: it is current).
        // A metric seen for the first time gets a pending entry at once, so that writes made
        // while it is being counted mark it dirty instead of being missed.
        let (base, recount_from, generation) = {
            let mut state = self.lock();
            let state = &mut *state;
            if !state.entries.contains_key(&key) {
                let pending = Entry {
                    counts: Arc::new(StepCounts::default()),
                    latest,
                    built: now,
                    used: now,
                    dirty_from: Some(i64::MIN),
                    generation: 0,
                };
                state.bytes += pending.counts.bytes();
                state.entries.insert(key.clone(), pending);
            }
            let Some(e) = state.entries.get_mut(&key) else {
                return Ok(None);
            };
            e.used = now;
            if now.duration_since(e.built) >= ENTRY_TTL {
                e.dirty_from = Some(i64::MIN);
                e.built = now;
            }
            let mut from = e.dirty_from;
            if e.latest != latest {
                let old_last = e.counts.last_step().unwrap_or(i64::MIN);
                from = Some(if latest.0 < old_last {
                    i64::MIN // rows went away: count everything again
                } else {
                    from.map_or(old_last, |f| f.min(old_last))
                });
            }
            (e.counts.clone(), from, e.generation)
        };
        let Some(from) = recount_from else {
            return Ok(Some(base));
        };
        let mut counts = if from > i64::MIN {
            (*base).clone()
        } else {
            StepCounts::default()
        };
        counts.truncate_from(from);
        let mut sql = format!(
            "SELECT step, COUNT(*) FROM {} WHERE run_uuid = ? AND \"key\" = ?",
            db.dialect().metrics_by_run_key_step()
        );
        let mut params: Vec<Value> = args![run_id, metric_key].into();
        if from > i64::MIN {
            sql.push_str(" AND step >= ?");
            params.push(Value::Int(from));
        }
        sql.push_str(" GROUP BY step ORDER BY step");
        db.query(&sql, &params, &mut |r| {
            counts.push(r.get(0)?, r.get::<i64>(1)? as u64);
            Ok(())
        })?;
        let counts = Arc::new(counts);
        self.store(key, counts.clone(), latest, generation);
        Ok(Some(counts))
    }

    /// Keeps freshly counted `counts` (made while the entry was at `generation`).
    fn store(
        &self,
        key: (String, String),
        counts: Arc<StepCounts>,
        latest: Latest,
        generation: u64,
    ) {
        let size = counts.bytes();
        if size > self.budget() / 4 {
            self.remove(&key);
            return;
        }
        let mut state = self.lock();
        let state = &mut *state;
        let Some(e) = state.entries.get_mut(&key) else {
            return; // evicted meanwhile
        };
        let old_size = e.counts.bytes();
        e.counts = counts;
        e.latest = latest;
        if e.generation == generation {
            e.dirty_from = None;
        } // else: a write came in while counting; it stays marked
        state.bytes = state.bytes - old_size + size;
        // Over budget: one pass drops the least recently used entries down to 90% of it, so
        // a full cache does not look through every entry on each insert.
        let budget = self.budget();
        if state.bytes > budget {
            let mut by_age: Vec<(Instant, (String, String))> = state
                .entries
                .iter()
                .map(|(k, e)| (e.used, k.clone()))
                .collect();
            by_age.sort_unstable_by_key(|(used, _)| *used);
            for (_, k) in by_age {
                if state.bytes <= budget / 10 * 9 {
                    break;
                }
                if let Some(e) = state.entries.remove(&k) {
                    state.bytes -= e.counts.bytes();
                }
            }
        }
    }

    /// The points MLflow 3.18 returns for one run (see the module notes).
    pub fn sample(
        &self,
        db: &mut dyn Db,
        run_id: &str,
        metric_key: &str,
        range: Option<(i64, i64)>,
        max_results: i64,
    ) -> Result<Vec<Metric>, Wrapped> {
        let Some(counts) = self.counts(db, run_id, metric_key)? else {
            return Ok(Vec::new());
        };
        let (below, total) = match range {
            Some((start, end)) => {
                let below = counts.rows_below(start as i128);
                (below, counts.rows_below(end as i128 + 1) - below)
            }
            None => (0, counts.rows_below(i128::MAX)),
        };
        let positions: Vec<u64> = sample_positions(total, max_results.max(1) as u64)
            .into_iter()
            .map(|p| p + below)
            .collect();
        let wanted = counts.locate(&positions);
        let mut steps: Vec<i64> = wanted.iter().map(|w| w.0).collect();
        steps.dedup();
        // Steps holding very many rows (everything logged at step 0, say) would mean reading
        // them all: walk the ordered rows instead, as MLflow's fallback does.
        let rows_to_read: u64 = steps.iter().map(|s| counts.rows_at(*s)).sum();
        if rows_to_read > 4 * positions.len() as u64 + 1024 {
            return scan_sample(db, run_id, metric_key, range, &positions, below);
        }
        let mut out = Vec::with_capacity(wanted.len());
        let mut want = wanted.iter().peekable();
        let mut consistent = true;
        for chunk in steps.chunks(STEP_CHUNK) {
            // No ORDER BY: PostgreSQL would then keep the index's order by filtering the
            // run's every row instead of seeking the listed steps. The rows (a bounded few)
            // are put in MLflow's order here.
            let sql = format!(
                "SELECT \"key\", value, timestamp, step, is_nan FROM {} WHERE run_uuid = ? AND \"key\" = ? AND step IN ({})",
                db.dialect().metrics_by_run_key_step(),
                placeholders(chunk.len())
            );
            let mut params: Vec<Value> = args![run_id, metric_key].into();
            params.extend(chunk.iter().map(|s| Value::Int(*s)));
            let mut rows: Vec<(i64, i64, f64, bool, Metric)> = Vec::new();
            db.query(&sql, &params, &mut |r| {
                rows.push((
                    r.get(3)?,
                    r.get(2)?,
                    r.get(1)?,
                    r.get(4)?,
                    super::metric_from_history_row(r)?,
                ));
                Ok(())
            })?;
            rows.sort_by(|a, b| {
                (a.0, a.1)
                    .cmp(&(b.0, b.1))
                    .then(a.2.partial_cmp(&b.2).unwrap_or(std::cmp::Ordering::Equal))
                    .then(a.3.cmp(&b.3))
            });
            let mut current: Option<(i64, u64)> = None; // (step, rows seen at it)
            let mut seen_per_step: Vec<(i64, u64)> = Vec::new();
            for (step, _, _, _, metric) in rows {
                let n = match current {
                    Some((s, n)) if s == step => n + 1,
                    Some(prev) => {
                        seen_per_step.push(prev);
                        0
                    }
                    None => 0,
                };
                current = Some((step, n));
                if want.peek() == Some(&&(step, n)) {
                    want.next();
                    out.push(metric);
                }
            }
            seen_per_step.extend(current);
            consistent &= seen_per_step.len() == chunk.len()
                && seen_per_step
                    .iter()
                    .all(|(s, n)| n + 1 == counts.rows_at(*s));
        }
        if !consistent || want.next().is_some() {
            // The rows changed under the counts: count again from the rows themselves.
            self.remove(&(run_id.to_string(), metric_key.to_string()));
            return self.sample_uncached(db, run_id, metric_key, range, max_results);
        }
        Ok(out)
    }

    fn sample_uncached(
        &self,
        db: &mut dyn Db,
        run_id: &str,
        metric_key: &str,
        range: Option<(i64, i64)>,
        max_results: i64,
    ) -> Result<Vec<Metric>, Wrapped> {
        let (sql, params) = run_metric_rows(db, "COUNT(*)", run_id, metric_key, range);
        let total: i64 = db.query_opt(&sql, &params, |r| r.get(0))?.unwrap_or(0);
        let positions = sample_positions(total.max(0) as u64, max_results.max(1) as u64);
        scan_sample(db, run_id, metric_key, range, &positions, 0)
    }
}

/// `SELECT <columns>` over a run's rows of one metric, within `range` when given.
fn run_metric_rows(
    db: &mut dyn Db,
    columns: &str,
    run_id: &str,
    metric_key: &str,
    range: Option<(i64, i64)>,
) -> (String, Vec<Value>) {
    let mut sql = format!(
        "SELECT {columns} FROM {} WHERE run_uuid = ? AND \"key\" = ?",
        db.dialect().metrics_by_run_key_step()
    );
    let mut params: Vec<Value> = args![run_id, metric_key].into();
    if let Some((s, e)) = range {
        sql.push_str(" AND step >= ? AND step <= ?");
        params.extend(args![s, e]);
    }
    (sql, params)
}

/// Walks the ordered rows and keeps those at `positions` (absolute positions, `offset` rows
/// before the range): memory stays at the sample's size whatever the history's length.
fn scan_sample(
    db: &mut dyn Db,
    run_id: &str,
    metric_key: &str,
    range: Option<(i64, i64)>,
    positions: &[u64],
    offset: u64,
) -> Result<Vec<Metric>, Wrapped> {
    if positions.is_empty() {
        return Ok(Vec::new());
    }
    let (mut sql, params) = run_metric_rows(
        db,
        "\"key\", value, timestamp, step, is_nan",
        run_id,
        metric_key,
        range,
    );
    sql.push_str(" ORDER BY step, timestamp, value, is_nan");
    let mut out = Vec::with_capacity(positions.len());
    let mut next = positions.iter().map(|p| p - offset).peekable();
    let mut i = 0u64;
    db.query(&sql, &params, &mut |r| -> DbResult<()> {
        if next.peek() == Some(&i) {
            next.next();
            out.push(super::metric_from_history_row(r)?);
        }
        i += 1;
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(steps: &[(i64, u64)]) -> StepCounts {
        let mut c = StepCounts::default();
        for (s, n) in steps {
            c.push(*s, *n);
        }
        c
    }

    #[test]
    fn positions_follow_ntile_and_keep_the_last_row() {
        assert_eq!(sample_positions(5, 10), vec![0, 1, 2, 3, 4]);
        assert_eq!(sample_positions(0, 10), Vec::<u64>::new());
        assert_eq!(sample_positions(10, 1), vec![9]);
        // NTILE(3) over 10 rows: buckets of 4, 3, 3 -> first rows 0, 4, 7; the last row
        // replaces the last bucket's first.
        assert_eq!(sample_positions(10, 3), vec![0, 4, 9]);
        assert_eq!(sample_positions(7, 2), vec![0, 6]);
    }

    #[test]
    fn a_dense_history_is_one_segment() {
        let mut c = StepCounts::default();
        for s in 0..1_000_000 {
            c.push(s, 1);
        }
        assert_eq!(c.segments.len(), 1);
        assert_eq!(c.rows_below(i128::MAX), 1_000_000);
        assert_eq!(c.locate(&[0, 999_999]), vec![(0, 0), (999_999, 0)]);
    }

    #[test]
    fn counts_locate_rows_within_steps() {
        let c = counts(&[(0, 3), (10, 1), (20, 1), (30, 1), (31, 2)]);
        assert_eq!(c.segments.len(), 3);
        assert_eq!(c.rows_below(i128::MAX), 8);
        assert_eq!(c.rows_below(10), 3);
        assert_eq!(c.rows_below(25), 5);
        assert_eq!(
            c.locate(&[0, 2, 3, 5, 6, 7]),
            vec![(0, 0), (0, 2), (10, 0), (30, 0), (31, 0), (31, 1)]
        );
        assert_eq!(c.rows_at(20), 1);
        assert_eq!(c.rows_at(25), 0);
        assert_eq!(c.rows_at(31), 2);
    }

    #[test]
    fn the_cache_stays_within_its_budget_keeping_recent_entries() {
        let cache = HistoryCache::new(40 * 256);
        let latest = (0, 0, 0.0, false);
        for i in 0..100 {
            let key = (format!("run{i}"), "loss".to_string());
            {
                let mut state = cache.lock();
                let counts = Arc::new(StepCounts::default());
                state.bytes += counts.bytes();
                state.entries.insert(
                    key.clone(),
                    Entry {
                        counts,
                        latest,
                        built: Instant::now(),
                        used: Instant::now(),
                        dirty_from: Some(i64::MIN),
                        generation: 0,
                    },
                );
            }
            cache.store(key, Arc::new(counts(&[(0, 1), (5, 1)])), latest, 0);
        }
        let state = cache.lock();
        let real: usize = state.entries.values().map(|e| e.counts.bytes()).sum();
        assert_eq!(state.bytes, real);
        assert!(state.bytes <= 40 * 256, "{} bytes kept", state.bytes);
        assert!(state
            .entries
            .contains_key(&("run99".to_string(), "loss".to_string())));
        assert!(!state
            .entries
            .contains_key(&("run0".to_string(), "loss".to_string())));
    }

    #[test]
    fn counts_survive_a_backfill_before_the_first_step() {
        let mut c = StepCounts::default();
        for s in 1000..3500 {
            c.push(s, 1);
        }
        c.truncate_from(0);
        for s in (0..1000).step_by(2) {
            c.push(s, 1);
        }
        for s in 1000..3500 {
            c.push(s, 1);
        }
        let total = c.rows_below(i128::MAX);
        assert_eq!(total, 3000);
        let at = c.locate(&sample_positions(total, 320));
        assert_eq!(at.len(), 320);
        assert_eq!(at[319], (3499, 0));
    }

    #[test]
    fn truncating_keeps_steps_below() {
        let mut c = counts(&[(0, 1), (1, 1), (2, 1), (3, 1), (7, 2)]);
        c.truncate_from(2);
        assert_eq!(c, counts(&[(0, 1), (1, 1)]));
        c.truncate_from(-5);
        assert_eq!(c, StepCounts::default());
        let mut c = counts(&[(-10, 1), (0, 1), (10, 1)]);
        c.truncate_from(5);
        assert_eq!(c, counts(&[(-10, 1), (0, 1)]));
    }
}
