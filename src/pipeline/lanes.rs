//! Per-conversation FIFO lanes under a global concurrency limit.
//!
//! Each conversation is a lane that runs at most one job at a time, in submission order
//! (guarantee G2); up to `max_running` lanes run at once. A lane with queued work waits
//! in a ready queue for a slot, so one slow conversation holds one slot, never the others
//! (isolation). Pure bookkeeping: it starts nothing itself, it says what to start.

use std::collections::VecDeque;

use crate::fast_hash::{FastMap, FastSet};

/// Lanes and the jobs queued in them.
#[derive(Debug)]
pub(crate) struct LaneScheduler<J> {
    max_running: usize,
    running: usize,
    /// Lanes with a job running.
    active: FastSet<String>,
    /// Jobs waiting behind the running one (or for a slot), per lane.
    queued: FastMap<String, VecDeque<J>>,
    /// How many jobs `queued` holds in all, kept as they come and go: the pipeline reads it
    /// for a gauge on every event, and summing thousands of lanes each time would not do.
    queued_jobs: usize,
    /// Idle lanes with queued jobs, waiting for a slot, oldest first.
    ready: VecDeque<String>,
}

impl<J> LaneScheduler<J> {
    /// A scheduler running at most `max_running` jobs at once (at least one).
    pub(crate) fn new(max_running: usize) -> Self {
        Self {
            max_running: max_running.max(1),
            running: 0,
            active: FastSet::default(),
            queued: FastMap::default(),
            queued_jobs: 0,
            ready: VecDeque::new(),
        }
    }

    /// Adds a job to `lane`; returns it back when it should start now.
    pub(crate) fn submit(&mut self, lane: &str, job: J) -> Option<J> {
        let lane_busy = self.active.contains(lane) || self.queued.contains_key(lane);
        if !lane_busy && self.running < self.max_running {
            self.running += 1;
            self.active.insert(lane.to_owned());
            return Some(job);
        }
        if !lane_busy {
            self.ready.push_back(lane.to_owned());
        }
        // Looked up first, so a job joining a queue that exists costs no copy of its lane.
        match self.queued.get_mut(lane) {
            Some(queue) => queue.push_back(job),
            None => {
                self.queued.insert(lane.to_owned(), VecDeque::from([job]));
            }
        }
        self.queued_jobs += 1;
        None
    }

    /// The running job of `lane` finished; [`LaneScheduler::next_to_start`] then says what
    /// to start in the freed slot.
    pub(crate) fn finished(&mut self, lane: &str) {
        if self.active.remove(lane) {
            self.running -= 1;
            if self.queued.contains_key(lane) {
                // Back of the queue: a busy conversation takes turns with the others.
                self.ready.push_back(lane.to_owned());
            }
        }
    }

    /// The next job (with its lane) to start now, while a slot is free and a lane waits.
    /// Asked one at a time, so a finish costs no allocation on the delivery path.
    pub(crate) fn next_to_start(&mut self) -> Option<(String, J)> {
        while self.running < self.max_running {
            let next_lane = self.ready.pop_front()?;
            let Some(queue) = self.queued.get_mut(&next_lane) else {
                continue;
            };
            let Some(job) = queue.pop_front() else {
                continue;
            };
            self.queued_jobs -= 1;
            if queue.is_empty() {
                self.queued.remove(&next_lane);
            }
            self.running += 1;
            self.active.insert(next_lane.clone());
            return Some((next_lane, job));
        }
        None
    }

    /// Jobs running now.
    #[cfg(test)]
    pub(crate) fn running(&self) -> usize {
        self.running
    }

    /// Jobs waiting in lanes.
    pub(crate) fn queued(&self) -> usize {
        self.queued_jobs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Finishes `lane`'s running job and returns every job to start now.
    fn finish<J>(lanes: &mut LaneScheduler<J>, lane: &str) -> Vec<(String, J)> {
        lanes.finished(lane);
        std::iter::from_fn(|| lanes.next_to_start()).collect()
    }

    #[test]
    fn a_lane_runs_one_job_at_a_time_in_order() {
        let mut lanes = LaneScheduler::new(4);
        assert_eq!(lanes.submit("a", 1), Some(1));
        assert_eq!(lanes.submit("a", 2), None);
        assert_eq!(lanes.submit("a", 3), None);
        assert_eq!(finish(&mut lanes, "a"), vec![("a".to_owned(), 2)]);
        assert_eq!(finish(&mut lanes, "a"), vec![("a".to_owned(), 3)]);
        assert!(finish(&mut lanes, "a").is_empty());
        assert_eq!(lanes.running(), 0);
    }

    #[test]
    fn a_slow_lane_does_not_block_other_lanes() {
        let mut lanes = LaneScheduler::new(2);
        assert_eq!(lanes.submit("slow", 1), Some(1));
        assert_eq!(lanes.submit("slow", 2), None);
        assert_eq!(lanes.submit("fast", 10), Some(10));
        assert_eq!(lanes.submit("fast", 11), None);
        assert_eq!(finish(&mut lanes, "fast"), vec![("fast".to_owned(), 11)]);
        assert_eq!(lanes.submit("other", 20), None, "both slots are taken");
        assert_eq!(finish(&mut lanes, "fast"), vec![("other".to_owned(), 20)]);
    }

    proptest! {
        /// Whatever the interleaving, each lane starts its jobs in submission order, never
        /// runs two at once, and no more than the limit run together; the queued count is
        /// every job submitted and not yet started.
        #[test]
        fn lanes_keep_fifo_order_and_the_concurrency_limit(
            limit in 1usize..5,
            steps in proptest::collection::vec((0u8..4, any::<bool>()), 1..300),
        ) {
            let mut lanes = LaneScheduler::new(limit);
            let mut running: Vec<(String, u32)> = Vec::new();
            let mut next_job = [0u32; 4];
            let mut last_started = [None::<u32>; 4];
            let mut started_in_all = 0u32;
            for (lane_index, submit) in steps {
                let lane = format!("lane-{lane_index}");
                let mut started = Vec::new();
                if submit {
                    let job = next_job[lane_index as usize];
                    next_job[lane_index as usize] += 1;
                    if let Some(job) = lanes.submit(&lane, job) {
                        started.push((lane.clone(), job));
                    }
                } else if let Some(position) = running.iter().position(|(name, _)| *name == lane) {
                    running.remove(position);
                    started = finish(&mut lanes, &lane);
                }
                for (name, job) in started {
                    started_in_all += 1;
                    let index: usize = name.trim_start_matches("lane-").parse().unwrap();
                    prop_assert!(last_started[index].is_none_or(|previous| previous + 1 == job));
                    last_started[index] = Some(job);
                    prop_assert!(running.iter().all(|(other, _)| *other != name), "two jobs in one lane");
                    running.push((name, job));
                }
                prop_assert!(running.len() <= limit);
                prop_assert_eq!(running.len(), lanes.running());
                let submitted: u32 = next_job.iter().sum();
                prop_assert_eq!(lanes.queued(), (submitted - started_in_all) as usize);
            }
        }
    }
}
