//! The in-process queue: the local runner's stand-in for SQS, with the same at-least-once
//! contract (a message is delivered again until acknowledged).

use crate::error::QueueError;
use crate::ports::{Delivery, Queue};
use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

struct Inner<M> {
    ready: VecDeque<(u64, M, u32)>,
    in_flight: HashMap<u64, (M, u32)>,
    next_id: u64,
}

pub struct InProcessQueue<M> {
    inner: Mutex<Inner<M>>,
}

impl<M> Default for InProcessQueue<M> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                ready: VecDeque::new(),
                in_flight: HashMap::new(),
                next_id: 0,
            }),
        }
    }
}

impl<M> InProcessQueue<M> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Messages waiting or in flight.
    pub fn len(&self) -> usize {
        let inner = self.inner.lock().expect("queue lock");
        inner.ready.len() + inner.in_flight.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn receipt_id(receipt: &str) -> Result<u64, QueueError> {
    receipt
        .parse()
        .map_err(|_| QueueError::Unavailable(format!("unknown receipt {receipt}")))
}

#[async_trait]
impl<M: Clone + Send + 'static> Queue<M> for InProcessQueue<M> {
    async fn send_batch(&self, messages: Vec<M>) -> Result<(), QueueError> {
        let mut inner = self.inner.lock().expect("queue lock");
        for message in messages {
            let id = inner.next_id;
            inner.next_id += 1;
            inner.ready.push_back((id, message, 0));
        }
        Ok(())
    }

    async fn receive(&self, max: usize) -> Result<Vec<Delivery<M>>, QueueError> {
        let mut inner = self.inner.lock().expect("queue lock");
        let mut batch = Vec::new();
        while batch.len() < max {
            let Some((id, message, count)) = inner.ready.pop_front() else {
                break;
            };
            inner.in_flight.insert(id, (message.clone(), count + 1));
            batch.push(Delivery {
                receipt: id.to_string(),
                message,
                receive_count: count + 1,
            });
        }
        Ok(batch)
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        let id = receipt_id(receipt)?;
        self.inner.lock().expect("queue lock").in_flight.remove(&id);
        Ok(())
    }

    async fn retry_later(&self, receipt: &str) -> Result<(), QueueError> {
        let id = receipt_id(receipt)?;
        let mut inner = self.inner.lock().expect("queue lock");
        if let Some((message, count)) = inner.in_flight.remove(&id) {
            inner.ready.push_back((id, message, count));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delivers_until_acknowledged() {
        let queue = InProcessQueue::new();
        queue.send_batch(vec!["a", "b", "c"]).await.unwrap();
        let batch = queue.receive(2).await.unwrap();
        assert_eq!(
            batch.iter().map(|d| d.message).collect::<Vec<_>>(),
            ["a", "b"]
        );
        queue.ack(&batch[0].receipt).await.unwrap();
        queue.retry_later(&batch[1].receipt).await.unwrap();
        let rest = queue.receive(10).await.unwrap();
        assert_eq!(
            rest.iter().map(|d| d.message).collect::<Vec<_>>(),
            ["c", "b"]
        );
        assert_eq!(rest[1].receive_count, 2, "b is on its second delivery");
        for d in &rest {
            queue.ack(&d.receipt).await.unwrap();
        }
        assert!(queue.is_empty());
        assert!(queue.receive(10).await.unwrap().is_empty());
    }
}
