//! etcd's v3 API over synod.
pub mod pb;
pub mod types;
