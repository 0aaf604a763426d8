//! CloudWatch metrics in Embedded Metric Format: one JSON line on stdout, which CloudWatch Logs
//! turns into metrics, with no API call and no extra latency. Every metric carries one
//! dimension, `Service`, so that the template's alarms and dashboard find it; the tenant goes
//! along as a property (searchable in Logs Insights), not as a dimension, which would make one
//! paid metric per tenant.

use serde_json::{json, Map, Value};

pub const NAMESPACE: &str = "PersonioSync";
pub const SERVICE: &str = "personio-sync";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
        }
    }
}

/// One EMF record: metrics with their values, and properties that are logged, not measured.
#[derive(Debug, Default)]
pub struct Record {
    metrics: Vec<(&'static str, f64, Unit)>,
    properties: Map<String, Value>,
}

impl Record {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn count(mut self, name: &'static str, value: u64) -> Self {
        self.metrics.push((name, value as f64, Unit::Count));
        self
    }

    pub fn milliseconds(mut self, name: &'static str, value: u64) -> Self {
        self.metrics.push((name, value as f64, Unit::Milliseconds));
        self
    }

    /// A property: logged beside the metrics (and searchable), not a dimension.
    pub fn property(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.properties.insert(name.to_string(), value.into());
        self
    }

    /// The EMF document, as CloudWatch expects it.
    pub fn to_json(&self, timestamp_ms: i64) -> Value {
        let definitions: Vec<Value> = self
            .metrics
            .iter()
            .map(|(name, _, unit)| json!({"Name": name, "Unit": unit.as_str()}))
            .collect();
        let mut document = self.properties.clone();
        document.insert("Service".into(), SERVICE.into());
        for (name, value, _) in &self.metrics {
            document.insert((*name).to_string(), json!(value));
        }
        document.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Service"]],
                    "Metrics": definitions,
                }],
            }),
        );
        Value::Object(document)
    }

    /// Writes the record to stdout, where Lambda's log stream picks it up. Nothing is written
    /// for a record without metrics.
    pub fn emit(&self) {
        if self.metrics.is_empty() {
            return;
        }
        println!("{}", self.to_json(chrono::Utc::now().timestamp_millis()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_record_declares_each_metric_and_carries_its_value() {
        let record = Record::new()
            .count("ChangesApplied", 7)
            .milliseconds("QueueAge", 1500)
            .property("tenant", "personio:T");
        let json = record.to_json(1_795_946_400_000);
        let aws = &json["_aws"];
        assert_eq!(aws["Timestamp"], 1_795_946_400_000i64);
        let definition = &aws["CloudWatchMetrics"][0];
        assert_eq!(definition["Namespace"], NAMESPACE);
        assert_eq!(definition["Dimensions"], json!([["Service"]]));
        assert_eq!(
            definition["Metrics"],
            json!([{"Name": "ChangesApplied", "Unit": "Count"},
                   {"Name": "QueueAge", "Unit": "Milliseconds"}])
        );
        // Every dimension and metric named in the definition has a value at the top level.
        assert_eq!(json["Service"], SERVICE);
        assert_eq!(json["ChangesApplied"], 7.0);
        assert_eq!(json["QueueAge"], 1500.0);
        assert_eq!(json["tenant"], "personio:T");
    }
}
