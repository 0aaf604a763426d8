//! Counts of calls made, by endpoint template, for reports and benchmarks.

use std::collections::BTreeMap;
use std::sync::Mutex;
use sync_core::ports::CallStats;

#[derive(Default)]
pub struct CallCounter(Mutex<BTreeMap<String, u64>>);

impl CallCounter {
    pub fn count(&self, endpoint: &str) {
        let mut map = self.0.lock().expect("counter lock");
        *map.entry(endpoint.to_string()).or_default() += 1;
    }

    pub fn snapshot(&self) -> CallStats {
        self.0.lock().expect("counter lock").clone()
    }

    pub fn reset(&self) {
        self.0.lock().expect("counter lock").clear();
    }
}
