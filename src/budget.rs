//! Bounded budgets that work takes shares of: places among a feed's viewers, requests
//! waiting on a camera and bytes that slow readers keep pinned (fair shares of the
//! connection cap, so that `/status`, the page and viewers always find room), and the
//! memory the flat views keep. A share is given back when it is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A number of units (requests, bytes) that can be taken while there are enough left.
pub struct Budget {
    used: AtomicU64,
    max: u64,
}

/// Units taken from a [`Budget`], given back when dropped.
pub struct Share {
    budget: Arc<Budget>,
    units: u64,
}

impl Budget {
    pub fn new(max: u64) -> Arc<Budget> {
        Arc::new(Budget {
            used: AtomicU64::new(0),
            max,
        })
    }

    /// `units` of it, or `None` when that would go over the budget.
    pub fn try_take(self: &Arc<Self>, units: u64) -> Option<Share> {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(units).filter(|total| *total <= self.max)
            })
            .ok()?;
        Some(Share {
            budget: self.clone(),
            units,
        })
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// Units taken now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::SeqCst)
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.units, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_come_back_when_dropped() {
        let budget = Budget::new(3);
        let two = budget.try_take(2).unwrap();
        assert!(budget.try_take(2).is_none());
        let one = budget.try_take(1).unwrap();
        drop(two);
        assert!(budget.try_take(2).is_some());
        drop(one);
    }
}
