//! The restart budget: how many failures a child may have within a window before the supervisor
//! leaves it stopped (degraded), and how long it waits before each restart. Pure arithmetic over
//! failure times, so every rule is unit-tested without actors or clocks.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

/// Restart policy.
#[derive(Debug, Clone)]
pub(crate) struct RestartPolicy {
    /// Failures allowed within `window` before the child is left stopped.
    pub max_restarts: usize,
    /// The window the budget counts over.
    pub window: Duration,
    /// First backoff; doubles per recent failure.
    pub backoff: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            max_restarts: 5,
            window: Duration::from_secs(60),
            backoff: Duration::from_millis(100),
        }
    }
}

/// What to do after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterFailure {
    /// Start the child again after this delay.
    RestartAfter(Duration),
    /// The budget is spent: leave the child stopped.
    Degrade,
}

/// One child's recent failures.
#[derive(Debug, Default)]
pub(crate) struct RestartBudget {
    failures: VecDeque<Instant>,
}

impl RestartBudget {
    /// Records a failure at `now` and decides: failures older than the window no longer count;
    /// past `max_restarts` recent failures the child degrades; otherwise the delay is `backoff`
    /// doubled for each recent failure before this one.
    pub(crate) fn on_failure(&mut self, now: Instant, policy: &RestartPolicy) -> AfterFailure {
        self.failures.push_back(now);
        while self
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) > policy.window)
        {
            self.failures.pop_front();
        }
        let recent = self.failures.len();
        if recent > policy.max_restarts {
            return AfterFailure::Degrade;
        }
        let doublings = u32::try_from(recent - 1).unwrap_or(u32::MAX);
        AfterFailure::RestartAfter(
            policy
                .backoff
                .saturating_mul(2u32.saturating_pow(doublings)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RestartPolicy {
        RestartPolicy {
            max_restarts: 3,
            window: Duration::from_secs(60),
            backoff: Duration::from_millis(100),
        }
    }

    #[test]
    fn backoff_doubles_per_recent_failure() {
        let mut b = RestartBudget::default();
        let t = Instant::now();
        let delays: Vec<_> = (0..3)
            .map(|i| b.on_failure(t + Duration::from_secs(i), &policy()))
            .collect();
        assert_eq!(
            delays,
            [100, 200, 400].map(|ms| AfterFailure::RestartAfter(Duration::from_millis(ms)))
        );
    }

    #[test]
    fn past_the_budget_the_child_degrades() {
        let mut b = RestartBudget::default();
        let t = Instant::now();
        for i in 0..3 {
            assert!(matches!(
                b.on_failure(t + Duration::from_secs(i), &policy()),
                AfterFailure::RestartAfter(_)
            ));
        }
        assert_eq!(
            b.on_failure(t + Duration::from_secs(3), &policy()),
            AfterFailure::Degrade
        );
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let mut b = RestartBudget::default();
        let t = Instant::now();
        for i in 0..3 {
            b.on_failure(t + Duration::from_secs(i), &policy());
        }
        // 62 s after the first failure only the one at 2 s is still within the window.
        assert_eq!(
            b.on_failure(t + Duration::from_secs(62), &policy()),
            AfterFailure::RestartAfter(Duration::from_millis(200))
        );
    }

    #[test]
    fn a_huge_failure_count_does_not_overflow() {
        let p = RestartPolicy {
            max_restarts: usize::MAX,
            window: Duration::from_secs(3600),
            backoff: Duration::from_secs(1),
        };
        let mut b = RestartBudget::default();
        let t = Instant::now();
        let mut last = AfterFailure::Degrade;
        for i in 0..100 {
            last = b.on_failure(t + Duration::from_millis(i), &p);
        }
        // The doubling factor saturates at u32::MAX instead of overflowing.
        assert_eq!(
            last,
            AfterFailure::RestartAfter(Duration::from_secs(u64::from(u32::MAX)))
        );
    }
}
