//! The quiet-window state machine: a key becomes due once it has not been
//! touched for `quiet`. Pure (time is passed in), so it is tested without sleeping.

use std::borrow::Borrow;
use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Pending<M> {
    deadline: Instant,
    data: M,
}

/// Per-key deadlines with a lazily updated min-heap: a touch of a pending key
/// only moves its deadline in the map (no allocation, no heap push); the heap
/// entry is corrected when it surfaces. Each pending key has at least one heap
/// entry whose instant is not later than the key's real deadline.
#[derive(Debug)]
pub(crate) struct Debouncer<K, M> {
    quiet: Duration,
    pending: HashMap<K, Pending<M>>,
    heap: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Hash + Eq + Ord + Clone, M> Debouncer<K, M> {
    pub(crate) fn new(quiet: Duration) -> Self {
        Debouncer { quiet, pending: HashMap::new(), heap: BinaryHeap::new() }
    }

    /// Record activity on `key` at `now`: it becomes due at `now + quiet`
    /// unless touched again. `data` replaces what was stored with the key.
    pub(crate) fn touch<Q>(&mut self, key: &Q, now: Instant, data: M)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let deadline = now + self.quiet;
        self.touch_until(key, deadline, data);
    }

    /// Like [`touch`](Self::touch) with an explicit deadline. A key already
    /// pending costs no allocation.
    pub(crate) fn touch_until<Q>(&mut self, key: &Q, deadline: Instant, data: M)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        match self.pending.get_mut(key) {
            Some(p) => {
                if deadline < p.deadline {
                    // Earlier than before: the heap entry may be too late.
                    // A spare entry is dropped when it surfaces after the key.
                    self.heap.push(Reverse((deadline, key.to_owned())));
                }
                p.deadline = deadline;
                p.data = data;
            }
            None => {
                let key = key.to_owned();
                self.heap.push(Reverse((deadline, key.clone())));
                self.pending.insert(key, Pending { deadline, data });
            }
        }
    }

    /// The data stored with a pending key.
    pub(crate) fn pending_data<Q>(&self, key: &Q) -> Option<&M>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.pending.get(key).map(|p| &p.data)
    }

    /// When the next key may become due (possibly a little early: popping
    /// then finds nothing due and the caller waits again).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Number of pending keys.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Take one key whose deadline is at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(K, M)> {
        loop {
            let Reverse((at, _)) = self.heap.peek()?;
            if *at > now {
                return None;
            }
            let Reverse((_, key)) = self.heap.pop()?;
            match self.pending.entry(key) {
                Entry::Occupied(slot) if slot.get().deadline <= now => {
                    let (key, p) = slot.remove_entry();
                    return Some((key, p.data));
                }
                Entry::Occupied(slot) => {
                    // Touched since this heap entry was pushed: requeue at the
                    // real deadline, reusing the key.
                    let deadline = slot.get().deadline;
                    let key = slot.key().clone();
                    self.heap.push(Reverse((deadline, key)));
                }
                Entry::Vacant(_) => {} // a spare entry of a key already returned
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_becomes_due_once_after_the_last_touch() {
        let t0 = Instant::now();
        let mut d: Debouncer<u32, ()> = Debouncer::new(ms(50));
        for i in 0..10 {
            d.touch(&7, t0 + ms(20 * i), ());
        }
        // Last touch at 180 ms: not due at 229, due at 230.
        assert!(d.pop_due(t0 + ms(229)).is_none());
        assert_eq!(d.pop_due(t0 + ms(230)), Some((7, ())));
        assert!(d.pop_due(t0 + ms(10_000)).is_none());
        assert_eq!(d.len(), 0);
    }

    #[test]
    fn zero_quiet_is_due_at_once() {
        let t0 = Instant::now();
        let mut d: Debouncer<u32, u8> = Debouncer::new(Duration::ZERO);
        d.touch(&1, t0, 3);
        assert_eq!(d.next_deadline(), Some(t0));
        assert_eq!(d.pop_due(t0), Some((1, 3)));
    }

    /// Property: for any schedule of touches on a few keys, (1) no key is ever
    /// returned before `quiet` has passed since its last touch, (2) every key
    /// is returned exactly once per "burst" (after its last touch, once time
    /// runs past its deadline), and (3) `next_deadline` never lies in the
    /// future of a due key (waiting until it never oversleeps).
    #[test]
    fn debouncer_never_early_never_lost() {
        proptest!(|(
            quiet in 0u64..50,
            steps in proptest::collection::vec((0u8..4, 0u64..40), 1..60),
        )| {
            let t0 = Instant::now();
            let mut d: Debouncer<u8, u64> = Debouncer::new(ms(quiet));
            let mut last_touch: HashMap<u8, u64> = HashMap::new();
            let mut now = 0u64;
            for (key, advance) in steps {
                now += advance;
                // Drain what is due at `now`.
                if let Some(next) = d.next_deadline() {
                    let due_exists = last_touch.values().any(|&t| t + quiet <= now);
                    if due_exists {
                        prop_assert!(next <= t0 + ms(now));
                    }
                }
                while let Some((k, touched_at)) = d.pop_due(t0 + ms(now)) {
                    let last = last_touch.remove(&k);
                    prop_assert_eq!(last, Some(touched_at));
                    prop_assert!(touched_at + quiet <= now, "returned early");
                }
                for (&k, &t) in &last_touch {
                    prop_assert!(t + quiet > now, "key {} lost: due but not returned", k);
                }
                d.touch(&key, t0 + ms(now), now);
                last_touch.insert(key, now);
            }
            // Eventually everything comes out, once.
            let end = now + quiet;
            while let Some((k, touched_at)) = d.pop_due(t0 + ms(end)) {
                prop_assert_eq!(last_touch.remove(&k), Some(touched_at));
            }
            prop_assert!(last_touch.is_empty());
            prop_assert_eq!(d.len(), 0);
        });
    }
}
