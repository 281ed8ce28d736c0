//! Decoders fed arbitrary and mutated bytes: the frame decoder (hellos
//! included), the cluster-file parser, snapshot restore and write-ahead log
//! replay never panic; they decode or return an error.

use bytes::BytesMut;
use proptest::prelude::*;
use synod_apps::Services;
use synod_core::{ClientId, NodeId, StateMachine};
use synod_node::ClusterFile;
use synod_node::store::Wal;
use synod_node::wire::{Caller, Decoder, Frame, encode};

/// Well-formed frames to mutate.
fn samples() -> Vec<Vec<u8>> {
    vec![
        encode(&Frame::Hello {
            cluster: "fuzz".into(),
            caller: Caller::Client(ClientId(7)),
        })
        .to_vec(),
        encode(&Frame::Hello {
            cluster: "fuzz".into(),
            caller: Caller::Peer(NodeId(2)),
        })
        .to_vec(),
        encode(&Frame::Welcome { node: NodeId(1) }).to_vec(),
        encode(&Frame::Refused {
            reason: "no".into(),
        })
        .to_vec(),
    ]
}

/// Decodes every frame in `bytes` until an error or the end.
fn decode_all(bytes: &[u8]) {
    let decoder = Decoder::new(64 * 1024);
    let mut buf = BytesMut::from(bytes);
    while let Ok(Some(_)) = decoder.decode(&mut buf) {}
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_bytes_never_panic_the_frame_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_all(&bytes);
        // Behind a valid header too, so the payload decoder sees them.
        let mut framed = b"SYND\x01".to_vec();
        framed.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        framed.extend_from_slice(&bytes);
        decode_all(&framed);
    }

    #[test]
    fn mutated_frames_never_panic_the_decoder(
        which in 0usize..4,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut frame = samples()[which].clone();
        for (at, byte) in flips {
            let i = at.index(frame.len());
            frame[i] = byte;
        }
        let keep = cut.index(frame.len() + 1);
        decode_all(&frame[..keep]);
        decode_all(&frame);
    }

    #[test]
    fn arbitrary_text_never_panics_the_cluster_file_parser(text in "\\PC{0,300}") {
        let _ = ClusterFile::parse(&text);
    }

    #[test]
    fn mutated_cluster_files_are_parsed_or_refused(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<char>()), 1..6),
    ) {
        let mut chars: Vec<char> = synod_node::config::EXAMPLE.chars().collect();
        for (at, c) in flips {
            let i = at.index(chars.len());
            chars[i] = c;
        }
        let text: String = chars.into_iter().collect();
        if let Ok(file) = ClusterFile::parse(&text) {
            // Whatever parses also passes validation (parse validates).
            prop_assert!(file.validate().is_ok());
        }
    }

    #[test]
    fn arbitrary_snapshots_are_restored_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut state = Services::default();
        if state.restore(&bytes).is_err() {
            // A refused snapshot leaves a state that still works.
            let _ = state.apply(b"\x00");
        }
    }

}

proptest! {
    // Each case writes and syncs a log: fewer of them.
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn mutated_logs_replay_or_are_refused(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let node = dir.path().join("n1");
        {
            let (mut wal, _) = Wal::open(&node, true).unwrap();
            let ops = sample_ops();
            wal.append(&ops).unwrap();
            wal.sync().unwrap();
        }
        let segment = std::fs::read_dir(&node)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "log"))
            .unwrap();
        let mut bytes = std::fs::read(&segment).unwrap();
        // Damage the records and the start of the zeros written ahead of
        // them (the rest of that room is more of the same).
        let records = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        let span = (records + 64).min(bytes.len());
        for (at, byte) in flips {
            let i = at.index(span);
            bytes[i] = byte;
        }
        let keep = cut.index(span + 1);
        std::fs::write(&segment, &bytes[..keep]).unwrap();
        // Either it recovers (a torn tail cut off) or refuses as corrupt.
        let _ = Wal::open(&node, false);
    }
}

fn sample_ops() -> Vec<synod_core::PersistOp> {
    use synod_core::{Ballot, PersistOp, Request, Value};
    let ballot = Ballot::new(1, NodeId(1));
    let request = Request {
        client: ClientId(9),
        timestamp: 1,
        command: bytes::Bytes::from_static(b"put k v"),
    };
    vec![
        PersistOp::Promise(ballot),
        PersistOp::Accept {
            slot: 1,
            ballot,
            value: Value::Batch(vec![request]),
        },
    ]
}
