//! The etcd store's metrics on the node's `/metrics` endpoint
//! (docs/observability.md), under etcd's names where etcd has one: the
//! applied revision, the compaction revision and the store's size, as
//! this node last applied them, and how many automatic compactions this
//! node proposed that took effect.

use crate::mvcc::Store;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Default)]
pub(crate) struct StoreMetrics {
    revision: Gauge,
    compact_revision: Gauge,
    size: Gauge,
    auto_compactions: Counter,
}

impl StoreMetrics {
    /// The metrics, registered in `registry`.
    pub(crate) fn register(registry: &mut Registry) -> StoreMetrics {
        let m = StoreMetrics::default();
        registry.register(
            "etcd_debugging_mvcc_current_revision",
            "The store's revision as this node last applied it",
            m.revision.clone(),
        );
        registry.register(
            "etcd_debugging_mvcc_compact_revision",
            "The revision of the last compaction this node applied (0: none): reads and watches below it are refused",
            m.compact_revision.clone(),
        );
        registry.register(
            "etcd_mvcc_db_total_size_in_bytes",
            "The store's size (every revision kept) as this node estimates it: what Status reports",
            m.size.clone(),
        );
        registry.register(
            "synod_etcd_auto_compactions",
            "Automatic compactions (the cluster file's [etcd] section) this node proposed as leader that took effect",
            m.auto_compactions.clone(),
        );
        m
    }

    /// After a turn: what `store` holds now.
    pub(crate) fn show(&self, store: &Store) {
        self.revision.set(store.revision());
        self.compact_revision.set(store.compact_revision());
        self.size.set(store.approximate_size());
    }

    pub(crate) fn auto_compacted(&self) {
        self.auto_compactions.inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use crate::request::PutRequest;

    fn scrape(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, registry).unwrap();
        text
    }

    #[test]
    fn the_gauges_follow_the_store_it_is_shown() {
        let mut registry = Registry::default();
        let metrics = StoreMetrics::register(&mut registry);
        let mut store = Store::new();
        for i in 0..3 {
            let put = PutRequest {
                key: b"k".to_vec(),
                value: format!("v{i}").into_bytes(),
                ..Default::default()
            };
            store.execute(&Command::Put(put)).unwrap();
        }
        store.execute(&Command::Compact { revision: 3 }).unwrap();
        metrics.show(&store);
        metrics.auto_compacted();
        let text = scrape(&registry);
        assert!(
            text.contains("\netcd_debugging_mvcc_current_revision 4\n"),
            "{text}"
        );
        assert!(
            text.contains("\netcd_debugging_mvcc_compact_revision 3\n"),
            "{text}"
        );
        assert!(
            text.contains("\nsynod_etcd_auto_compactions_total 1\n"),
            "{text}"
        );
        let size = format!(
            "\netcd_mvcc_db_total_size_in_bytes {}\n",
            store.approximate_size()
        );
        assert!(
            store.approximate_size() > 0 && text.contains(&size),
            "{text}"
        );
    }
}
