//! The standard `process_*` metrics, under the names and help texts of Prometheus' own client
//! libraries, and the async runtime's figures (`preconf_tokio_*`), read at scrape time: CPU
//! seconds, resident and virtual memory, open and maximum file descriptors, threads, start time
//! (from `/proc`, so on Linux only); runtime workers, alive tasks and the global queue depth; the
//! allocator's bytes in use, kept free and mapped (glibc only), which tell a leak from
//! fragmentation. Also how the process gives freed memory back ([`return_freed_memory`]) and
//! takes the open-file limit it may ([`raise_open_file_limit`]).

use std::fmt::Write;

/// Makes the allocator give memory back to the system when it is freed (glibc only).
///
/// glibc serves allocations of 128 KiB and more with their own mappings, but raises that threshold
/// (up to 32 MiB) each time such a block is freed, after which large buffers — a request body, a
/// WebSocket frame, a block's receipts — come from the heap and stay in the process after they are
/// freed: hostile clients sending maximal frames left ~900 MB resident after they had gone. A fixed
/// threshold keeps every block above it in its own mapping, returned on free.
///
/// Smaller blocks freed in the middle of a heap stay resident too (glibc only shrinks a heap from
/// its top): under steady load the free bytes kept grew from 27 to 72 MB over 30 minutes while the
/// bytes in use stayed flat (`preconf_heap_free_bytes`, `preconf_heap_in_use_bytes`). A thread
/// hands the whole free pages among them back every [`TRIM_EVERY`] (`malloc_trim`, timed by
/// `preconf_heap_trim_seconds`).
pub fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets allocator parameters; it takes no pointers.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 8 * 1024 * 1024);
        }
        let _ = std::thread::Builder::new()
            .name("heap-trim".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(TRIM_EVERY);
                    let started = std::time::Instant::now();
                    // SAFETY: malloc_trim takes no pointers; it only releases free pages.
                    unsafe { libc::malloc_trim(0) };
                    metrics::histogram!(crate::metrics::HEAP_TRIM_SECONDS)
                        .record(started.elapsed().as_secs_f64());
                }
            });
    }
}

/// Raises the open-file limit to its hard maximum (as geth does): every connection is a file,
/// and the servers accept up to a few thousand at once (the payload server closes idle ones to
/// make room only after accepting them).
pub fn raise_open_file_limit() {
    #[cfg(unix)]
    // SAFETY: getrlimit/setrlimit read and write the process' limits through a local struct.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// How often [`return_freed_memory`] hands free heap pages back.
pub const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// The exposition text of the process and runtime metrics.
pub(crate) fn render() -> String {
    let mut out = String::new();
    #[cfg(target_os = "linux")]
    if let Some(p) = linux::read() {
        let series: [(&str, &str, &str, f64); 7] = [
            (
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
                p.cpu_seconds,
            ),
            (
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                p.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory size in bytes.",
                p.virtual_bytes,
            ),
            (
                "process_open_fds",
                "gauge",
                "Number of open file descriptors.",
                p.open_fds,
            ),
            (
                "process_max_fds",
                "gauge",
                "Maximum number of open file descriptors.",
                p.max_fds,
            ),
            (
                "process_threads",
                "gauge",
                "Number of OS threads in the process.",
                p.threads,
            ),
            (
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since unix epoch in seconds.",
                p.start_time_seconds,
            ),
        ];
        for (name, kind, help, value) in series {
            series_text(&mut out, name, kind, help, value);
        }
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 takes no arguments and only reads the allocator's statistics.
        let heap = unsafe { libc::mallinfo2() };
        let figures = [
            (
                "preconf_heap_in_use_bytes",
                "Bytes allocated and not yet freed in the allocator's heaps (glibc: uordblks).",
                heap.uordblks,
            ),
            (
                "preconf_heap_free_bytes",
                "Freed bytes the allocator keeps in its heaps for reuse (glibc: fordblks).",
                heap.fordblks,
            ),
            (
                "preconf_heap_mapped_bytes",
                "Bytes of large allocations in their own mappings; only touched pages are resident (glibc: hblkhd).",
                heap.hblkhd,
            ),
        ];
        for (name, help, bytes) in figures {
            series_text(&mut out, name, "gauge", help, bytes as f64);
        }
    }
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        let m = rt.metrics();
        series_text(
            &mut out,
            "preconf_tokio_workers",
            "gauge",
            "Worker threads of the async runtime.",
            m.num_workers() as f64,
        );
        series_text(
            &mut out,
            "preconf_tokio_alive_tasks",
            "gauge",
            "Tasks alive on the async runtime.",
            m.num_alive_tasks() as f64,
        );
        series_text(
            &mut out,
            "preconf_tokio_global_queue_depth",
            "gauge",
            "Tasks waiting in the async runtime's global queue.",
            m.global_queue_depth() as f64,
        );
    }
    out
}

fn series_text(out: &mut String, name: &str, kind: &str, help: &str, value: f64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

#[cfg(target_os = "linux")]
mod linux {
    /// One reading of the process.
    pub(super) struct Reading {
        pub cpu_seconds: f64,
        pub resident_bytes: f64,
        pub virtual_bytes: f64,
        pub open_fds: f64,
        pub max_fds: f64,
        pub threads: f64,
        pub start_time_seconds: f64,
    }

    pub(super) fn read() -> Option<Reading> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let s = parse_stat(&stat)?;
        // SAFETY: sysconf and getrlimit only read process-wide settings into the given values.
        let (ticks, page, max_fds) = unsafe {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
                limit.rlim_cur as f64
            } else {
                0.0
            };
            (
                libc::sysconf(libc::_SC_CLK_TCK) as f64,
                libc::sysconf(libc::_SC_PAGESIZE) as f64,
                max,
            )
        };
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<f64>().ok())?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
        Some(Reading {
            cpu_seconds: (s.utime + s.stime) / ticks,
            resident_bytes: s.rss_pages * page,
            virtual_bytes: s.vsize,
            open_fds,
            max_fds,
            threads: s.threads,
            start_time_seconds: boot + s.start_ticks / ticks,
        })
    }

    /// The fields of `/proc/self/stat` this module uses.
    #[derive(Debug, PartialEq)]
    pub(super) struct Stat {
        pub utime: f64,
        pub stime: f64,
        pub threads: f64,
        pub start_ticks: f64,
        pub vsize: f64,
        pub rss_pages: f64,
    }

    /// Parses `/proc/PID/stat` (proc(5)): fields after the command name, which is in parentheses
    /// and may itself contain spaces and parentheses.
    pub(super) fn parse_stat(text: &str) -> Option<Stat> {
        let rest = &text[text.rfind(')')? + 1..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        // f[0] is field 3 (state): field n is f[n - 3].
        let field = |n: usize| f.get(n - 3)?.parse::<f64>().ok();
        Some(Stat {
            utime: field(14)?,
            stime: field(15)?,
            threads: field(20)?,
            start_ticks: field(22)?,
            vsize: field(23)?,
            rss_pages: field(24)?,
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn stat_fields_are_read_after_the_command_name() {
            let text = "4242 (preconf (x) node) S 1 4242 4242 0 -1 4194560 2000 0 0 0 \
                        150 50 0 0 20 0 7 0 98765 123456789 3000 18446744073709551615";
            assert_eq!(
                parse_stat(text),
                Some(Stat {
                    utime: 150.0,
                    stime: 50.0,
                    threads: 7.0,
                    start_ticks: 98765.0,
                    vsize: 123456789.0,
                    rss_pages: 3000.0,
                })
            );
            assert!(read().is_some_and(|r| r.threads >= 1.0 && r.open_fds >= 3.0));
        }
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    fn heap(name: &str) -> f64 {
        super::render()
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .expect(name)
    }

    #[test]
    fn heap_figures_follow_allocations() {
        assert!(heap("preconf_heap_in_use_bytes") > 0.0);
        assert!(heap("preconf_heap_free_bytes") >= 0.0);
        let before = heap("preconf_heap_mapped_bytes");
        let held = std::hint::black_box(vec![1u8; 64 << 20]);
        let during = heap("preconf_heap_mapped_bytes");
        drop(held);
        // Other tests allocate and free meanwhile: a margin well under the 64 MiB held.
        assert!(during - before >= (48 << 20) as f64, "{before} → {during}");
    }
}
