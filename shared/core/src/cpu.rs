//! CPU time of this thread and of this process, for run reports and benchmarks. Wall time
//! says how long a run waited on the APIs; CPU time says what its own work cost.

use std::time::Duration;

/// CPU time this thread has used. A synchronous step measured with it (the planner) counts
/// only itself, whatever else the process runs.
pub fn thread_cpu_time() -> Option<Duration> {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time the whole process has used, on every thread.
pub fn process_cpu_time() -> Option<Duration> {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn clock(id: libc::clockid_t) -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec it is given, nothing else.
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// The CPU time spent since `start`, in microseconds (0 when the clock is not readable).
pub fn micros_since(start: Option<Duration>, now: Option<Duration>) -> u64 {
    match (start, now) {
        (Some(start), Some(now)) => now.saturating_sub(start).as_micros() as u64,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_work_uses_thread_and_process_cpu() {
        let thread_start = thread_cpu_time().expect("the thread clock is readable");
        let process_start = process_cpu_time().expect("the process clock is readable");
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(micros_since(Some(thread_start), thread_cpu_time()) > 0);
        assert!(micros_since(Some(process_start), process_cpu_time()) > 0);
        assert_eq!(micros_since(None, thread_cpu_time()), 0);
    }
}
