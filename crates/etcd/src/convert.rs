//! Between the protobuf messages and the typed requests and results.
//! Decoding rejects what etcd rejects at this point (unknown enum values,
//! an empty `RequestOp`); encoding fills headers: a top-level response gets
//! the full header, one nested in a txn only its revision, as etcd does.

use crate::backend::HeaderInfo;
use crate::error::EtcdError;
use crate::pb::etcdserverpb as pb;
use crate::pb::mvccpb;
use crate::request::*;
use crate::types::{Event, EventType, KeyValue};

pub fn header(info: HeaderInfo, revision: i64) -> pb::ResponseHeader {
    pb::ResponseHeader {
        cluster_id: info.cluster_id,
        member_id: info.member_id,
        revision,
        raft_term: info.raft_term,
    }
}

fn revision_only(revision: i64) -> Option<pb::ResponseHeader> {
    Some(pb::ResponseHeader {
        revision,
        ..Default::default()
    })
}

pub fn range_request(r: pb::RangeRequest) -> Result<RangeRequest, EtcdError> {
    use pb::range_request::{SortOrder as O, SortTarget as T};
    let sort_order = match O::try_from(r.sort_order) {
        Ok(O::None) => SortOrder::None,
        Ok(O::Ascend) => SortOrder::Ascend,
        Ok(O::Descend) => SortOrder::Descend,
        Err(_) => return Err(EtcdError::InvalidSortOption),
    };
    let sort_target = match T::try_from(r.sort_target) {
        Ok(T::Key) => SortTarget::Key,
        Ok(T::Version) => SortTarget::Version,
        Ok(T::Create) => SortTarget::Create,
        Ok(T::Mod) => SortTarget::Mod,
        Ok(T::Value) => SortTarget::Value,
        Err(_) => return Err(EtcdError::InvalidSortOption),
    };
    Ok(RangeRequest {
        key: r.key,
        range_end: r.range_end,
        limit: r.limit,
        revision: r.revision,
        sort_order,
        sort_target,
        serializable: r.serializable,
        keys_only: r.keys_only,
        count_only: r.count_only,
        min_mod_revision: r.min_mod_revision,
        max_mod_revision: r.max_mod_revision,
        min_create_revision: r.min_create_revision,
        max_create_revision: r.max_create_revision,
    })
}

pub fn put_request(p: pb::PutRequest) -> PutRequest {
    PutRequest {
        key: p.key,
        value: p.value,
        lease: p.lease,
        prev_kv: p.prev_kv,
        ignore_value: p.ignore_value,
        ignore_lease: p.ignore_lease,
    }
}

pub fn delete_request(d: pb::DeleteRangeRequest) -> DeleteRangeRequest {
    DeleteRangeRequest {
        key: d.key,
        range_end: d.range_end,
        prev_kv: d.prev_kv,
    }
}

fn compare(c: pb::Compare) -> Result<Compare, EtcdError> {
    use pb::compare::{CompareResult as R, CompareTarget as T, TargetUnion as U};
    let result = match R::try_from(c.result) {
        Ok(R::Equal) => CompareResult::Equal,
        Ok(R::Greater) => CompareResult::Greater,
        Ok(R::Less) => CompareResult::Less,
        Ok(R::NotEqual) => CompareResult::NotEqual,
        Err(_) => {
            return Err(EtcdError::InvalidArgument(format!(
                "unknown compare result {}",
                c.result
            )));
        }
    };
    let target = match T::try_from(c.target) {
        Ok(T::Version) => CompareTarget::Version,
        Ok(T::Create) => CompareTarget::Create,
        Ok(T::Mod) => CompareTarget::Mod,
        Ok(T::Value) => CompareTarget::Value,
        Ok(T::Lease) => CompareTarget::Lease,
        Err(_) => {
            return Err(EtcdError::InvalidArgument(format!(
                "unknown compare target {}",
                c.target
            )));
        }
    };
    let operand = match c.target_union {
        None => CompareOperand::Unset,
        Some(U::Version(n)) => CompareOperand::Version(n),
        Some(U::CreateRevision(n)) => CompareOperand::CreateRevision(n),
        Some(U::ModRevision(n)) => CompareOperand::ModRevision(n),
        Some(U::Value(v)) => CompareOperand::Value(v),
        Some(U::Lease(n)) => CompareOperand::Lease(n),
    };
    Ok(Compare {
        result,
        target,
        key: c.key,
        range_end: c.range_end,
        operand,
    })
}

fn request_op(op: pb::RequestOp) -> Result<RequestOp, EtcdError> {
    use pb::request_op::Request;
    match op.request {
        Some(Request::RequestRange(r)) => range_request(r).map(RequestOp::Range),
        Some(Request::RequestPut(p)) => Ok(RequestOp::Put(put_request(p))),
        Some(Request::RequestDeleteRange(d)) => Ok(RequestOp::DeleteRange(delete_request(d))),
        Some(Request::RequestTxn(t)) => txn_request(t).map(RequestOp::Txn),
        // etcd answers an empty operation with this error.
        None => Err(EtcdError::KeyNotFound),
    }
}

pub fn txn_request(t: pb::TxnRequest) -> Result<TxnRequest, EtcdError> {
    Ok(TxnRequest {
        compare: t
            .compare
            .into_iter()
            .map(compare)
            .collect::<Result<_, _>>()?,
        success: t
            .success
            .into_iter()
            .map(request_op)
            .collect::<Result<_, _>>()?,
        failure: t
            .failure
            .into_iter()
            .map(request_op)
            .collect::<Result<_, _>>()?,
    })
}

pub fn key_value(kv: KeyValue) -> mvccpb::KeyValue {
    mvccpb::KeyValue {
        key: kv.key,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value,
        lease: kv.lease,
    }
}

pub fn event(e: Event) -> mvccpb::Event {
    let kind = match e.kind {
        EventType::Put => mvccpb::event::EventType::Put,
        EventType::Delete => mvccpb::event::EventType::Delete,
    };
    mvccpb::Event {
        r#type: kind as i32,
        kv: Some(key_value(e.kv)),
        prev_kv: e.prev_kv.map(key_value),
    }
}

pub fn range_response(r: RangeResult, header: Option<pb::ResponseHeader>) -> pb::RangeResponse {
    pb::RangeResponse {
        header,
        kvs: r.kvs.into_iter().map(key_value).collect(),
        more: r.more,
        count: r.count,
    }
}

pub fn put_response(r: PutResult, header: Option<pb::ResponseHeader>) -> pb::PutResponse {
    pb::PutResponse {
        header,
        prev_kv: r.prev_kv.map(key_value),
    }
}

pub fn delete_response(
    r: DeleteRangeResult,
    header: Option<pb::ResponseHeader>,
) -> pb::DeleteRangeResponse {
    pb::DeleteRangeResponse {
        header,
        deleted: r.deleted,
        prev_kvs: r.prev_kvs.into_iter().map(key_value).collect(),
    }
}

pub fn txn_response(r: TxnResult, header: Option<pb::ResponseHeader>) -> pb::TxnResponse {
    use pb::response_op::Response;
    let responses = r
        .responses
        .into_iter()
        .map(|op| {
            let response = match op {
                ResponseOp::Range(r) => {
                    let h = revision_only(r.revision);
                    Response::ResponseRange(range_response(r, h))
                }
                ResponseOp::Put(r) => {
                    let h = revision_only(r.revision);
                    Response::ResponsePut(put_response(r, h))
                }
                ResponseOp::DeleteRange(r) => {
                    let h = revision_only(r.revision);
                    Response::ResponseDeleteRange(delete_response(r, h))
                }
                ResponseOp::Txn(r) => {
                    let h = revision_only(r.revision);
                    Response::ResponseTxn(txn_response(r, h))
                }
            };
            pb::ResponseOp {
                response: Some(response),
            }
        })
        .collect();
    pb::TxnResponse {
        header,
        succeeded: r.succeeded,
        responses,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_enum_values_are_rejected() {
        let r = pb::RangeRequest {
            key: b"k".to_vec(),
            sort_order: 7,
            ..Default::default()
        };
        assert_eq!(range_request(r), Err(EtcdError::InvalidSortOption));
        let t = pb::TxnRequest {
            compare: vec![pb::Compare {
                key: b"k".to_vec(),
                target: 9,
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(matches!(txn_request(t), Err(EtcdError::InvalidArgument(_))));
        let t = pb::TxnRequest {
            success: vec![pb::RequestOp { request: None }],
            ..Default::default()
        };
        assert_eq!(txn_request(t), Err(EtcdError::KeyNotFound));
    }

    #[test]
    fn nested_headers_carry_only_the_revision() {
        let r = TxnResult {
            revision: 5,
            succeeded: true,
            responses: vec![ResponseOp::Put(PutResult {
                revision: 5,
                prev_kv: None,
            })],
        };
        let info = HeaderInfo {
            cluster_id: 1,
            member_id: 2,
            raft_term: 3,
        };
        let t = txn_response(r, Some(header(info, 5)));
        assert_eq!(t.header.unwrap().member_id, 2);
        let Some(pb::response_op::Response::ResponsePut(p)) = &t.responses[0].response else {
            panic!("{t:?}")
        };
        assert_eq!(p.header, revision_only(5));
    }
}
