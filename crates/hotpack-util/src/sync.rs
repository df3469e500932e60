//! Locking that survives a panic in another thread, and forwarding between channels.

use std::sync::{Mutex, MutexGuard};

/// Lock `mutex`, ignoring poisoning.
///
/// hotpack's shared state is kept consistent at every await-free step (a registry update is
/// one insert), so a panic while the lock was held leaves nothing half-done; refusing every
/// later caller would only turn one panic into many.
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Forwards every message of `from` to `to`, through `wrap`, on a thread of its own that
/// ends when either side hangs up (an event stream merged into a subscriber's channel).
pub fn forward<T: Send + 'static, U: Send + 'static>(
    from: std::sync::mpsc::Receiver<T>,
    to: std::sync::mpsc::Sender<U>,
    wrap: fn(T) -> U,
) {
    std::thread::spawn(move || {
        for message in from.iter() {
            if to.send(wrap(message)).is_err() {
                break;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_poisoned_mutex_still_locks() {
        let m = Arc::new(Mutex::new(1));
        let m2 = Arc::clone(&m);
        let joined = std::thread::spawn(move || {
            let _guard = m2.lock().expect("not poisoned yet");
            panic!("poison it");
        })
        .join();
        assert!(joined.is_err());
        assert!(m.is_poisoned());
        *lock(&m) += 1;
        assert_eq!(*lock(&m), 2);
    }
}
