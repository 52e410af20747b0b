//! Two pieces of work side by side on the machine's cores, with a fallback to one thread.
//!
//! Used by the planner (which plans its products in two halves) and by the commands that read a
//! snapshot file while the policy loads. Results never depend on scheduling: each side
//! computes a fixed share.

/// Runs `a` here and `b` on a second thread, and returns both results. If no thread can be
/// started, `b` runs here after `a`. Only `b` must be `Send`: `a` may hold this thread's
/// writers.
///
/// Memory the second thread allocates comes from its own allocator arena, which cannot reuse
/// what this thread freed: the planner hands it half of the products.
pub fn join<A, B: Send>(a: impl FnOnce() -> A, b: impl FnOnce() -> B + Send) -> (A, B) {
    let task = std::sync::Mutex::new(Some(b));
    // Whoever takes the task runs it: the second thread, or this one if none started.
    let run = || {
        let f = task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        f.map(|f| f())
    };
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("seatkeeper-b".into())
            .spawn_scoped(scope, run);
        let ra = a();
        let rb = match spawned {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => None,
        };
        // The task is taken exactly once, so it ran there or it runs here.
        let rb = rb.or_else(run).expect("the second task ran");
        (ra, rb)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_returns_both_results_and_passes_on_a_panic() {
        let data = [1, 2, 3];
        let (a, b) = join(|| data.iter().sum::<i32>(), || data.len());
        assert_eq!((a, b), (6, 3));
        let caught = std::panic::catch_unwind(|| join(|| 1, || -> i32 { panic!("boom") }));
        assert!(
            caught.is_err(),
            "a panic on the second thread reaches the caller"
        );
    }
}
