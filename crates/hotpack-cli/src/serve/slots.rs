//! Handler-call slots: `--max-calls` is the total, and each module may hold at most its
//! share of it, so one module's hung calls never starve another.
//!
//! The share is `max(1, total / modules)`, with `modules` the number of modules serving
//! (re-read at most once a second). While no module holds more than its share, every module
//! can always get its own: the shares add up to at most the total. With more modules than
//! `--max-calls`, each share is 1 and the total still caps them (raise `--max-calls`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The slots of one server.
pub(crate) struct CallSlots {
    total: usize,
    inner: Mutex<Inner>,
}

struct Inner {
    in_use: usize,
    /// Calls running per module (a name is removed when it has none).
    per_module: HashMap<String, usize>,
    modules: usize,
    counted_at: Option<Instant>,
}

/// Why no slot was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Busy {
    /// The module holds its whole share.
    Module { module: String, share: usize },
    /// Every slot of the server is held.
    Total { total: usize },
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Busy::Module { module, share } => write!(
                f,
                "busy: module `{}` is running {share} calls, its share of --max-calls; retry shortly",
                crate::log::Escaped(module)
            ),
            Busy::Total { total } => write!(f, "busy: {total} handler calls are running (--max-calls); retry shortly"),
        }
    }
}

/// A held slot; dropping it gives the slot back.
pub(crate) struct Slot {
    slots: Arc<CallSlots>,
    module: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut inner = self.slots.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.in_use = inner.in_use.saturating_sub(1);
        if let Some(n) = inner.per_module.get_mut(&self.module) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                inner.per_module.remove(&self.module);
            }
        }
    }
}

impl CallSlots {
    pub(crate) fn new(total: usize) -> Arc<CallSlots> {
        Arc::new(CallSlots {
            total: total.max(1),
            inner: Mutex::new(Inner { in_use: 0, per_module: HashMap::new(), modules: 1, counted_at: None }),
        })
    }

    pub(crate) fn total(&self) -> usize {
        self.total
    }

    fn share_of(&self, modules: usize) -> usize {
        (self.total / modules.max(1)).max(1)
    }

    /// Whether the module count should be read again (at most once a second).
    pub(crate) fn needs_count(&self) -> bool {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.counted_at.is_none_or(|at| at.elapsed() >= Duration::from_secs(1))
    }

    /// Sets the number of modules serving.
    pub(crate) fn set_modules(&self, modules: usize) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.modules = modules.max(1);
        inner.counted_at = Some(Instant::now());
    }

    /// A slot for a call to `module`, or why there is none.
    pub(crate) fn acquire(self: &Arc<Self>, module: &str) -> Result<Slot, Busy> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let share = self.share_of(inner.modules);
        let held = inner.per_module.get(module).copied().unwrap_or(0);
        if held >= share {
            return Err(Busy::Module { module: module.to_owned(), share });
        }
        if inner.in_use >= self.total {
            return Err(Busy::Total { total: self.total });
        }
        inner.in_use += 1;
        *inner.per_module.entry(module.to_owned()).or_insert(0) += 1;
        Ok(Slot { slots: Arc::clone(self), module: module.to_owned() })
    }

    /// Calls running now, in all and per module (by name).
    pub(crate) fn in_use(&self) -> (usize, Vec<(String, usize)>) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut per: Vec<(String, usize)> = inner.per_module.iter().map(|(m, n)| (m.clone(), *n)).collect();
        per.sort();
        (inner.in_use, per)
    }

    /// The share each module gets now.
    pub(crate) fn share(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        self.share_of(inner.modules)
    }

    /// Modules holding their whole share (their next call gets a 503).
    pub(crate) fn full_modules(&self) -> Vec<(String, usize)> {
        let share = self.share();
        self.in_use().1.into_iter().filter(|(_, n)| *n >= share).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_never_takes_more_than_its_share() {
        let slots = CallSlots::new(8);
        slots.set_modules(2);
        let held: Vec<Slot> = (0..4).map(|_| slots.acquire("hung").expect("within its share")).collect();
        assert_eq!(slots.acquire("hung").err(), Some(Busy::Module { module: "hung".into(), share: 4 }));
        let other: Vec<Slot> = (0..4).map(|_| slots.acquire("greeter").expect("its own share")).collect();
        assert_eq!(slots.full_modules(), vec![("greeter".to_owned(), 4), ("hung".to_owned(), 4)]);
        drop(other);
        assert_eq!(slots.in_use(), (4, vec![("hung".to_owned(), 4)]));
        drop(held);
        assert_eq!(slots.in_use(), (0, vec![]));
    }

    #[test]
    fn with_more_modules_than_slots_the_total_still_caps() {
        let slots = CallSlots::new(2);
        slots.set_modules(5);
        let _a = slots.acquire("a").expect("a");
        let _b = slots.acquire("b").expect("b");
        assert_eq!(slots.acquire("c").err(), Some(Busy::Total { total: 2 }));
    }
}
