//! Property tests for the parsers round 2 touched (proptest, a bounded
//! number of cases per run): how a compressed file's framing is told
//! (skippable frames, lz4's frame and legacy formats), `--matrix` lines,
//! and Hypeman metadata. Kept apart from `properties.rs` and from the
//! Hypeman fixture.

use std::io::Write;

use forkmail::fanout::{FanoutError, parse_matrix};
use forkmail::mailbox::encode_fork_marker;
use forkmail::scan::{Compression, Framing, ScanOptions, framing, scan_any, scan_file};
use forkmail::source::{Listed, open_source};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A skippable frame (zstd's and lz4's alike): magic nibble, payload.
fn skippable(nibble: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = (0x184D_2A50u32 | u32::from(nibble & 0xF))
        .to_le_bytes()
        .to_vec();
    out.extend_from_slice(&u32::try_from(payload.len()).expect("len").to_le_bytes());
    out.extend_from_slice(payload);
    out
}

#[derive(Debug, Clone, Copy)]
enum Codec {
    Zstd,
    Lz4Frame,
    Lz4Legacy,
}

fn encode(codec: Codec, data: &[u8]) -> Vec<u8> {
    match codec {
        Codec::Zstd => zstd::stream::encode_all(data, 1).expect("zstd"),
        Codec::Lz4Frame => {
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
            enc.write_all(data).expect("lz4");
            enc.finish().expect("lz4")
        }
        Codec::Lz4Legacy => {
            let mut out = 0x184C_2102u32.to_le_bytes().to_vec();
            for chunk in data.chunks(8 << 20) {
                let block = lz4_flex::block::compress(chunk);
                out.extend_from_slice(&u32::try_from(block.len()).expect("len").to_le_bytes());
                out.extend_from_slice(&block);
            }
            out
        }
    }
}

fn codec() -> impl Strategy<Value = Codec> {
    prop_oneof![
        Just(Codec::Zstd),
        Just(Codec::Lz4Frame),
        Just(Codec::Lz4Legacy)
    ]
}

/// Guest memory: mostly zeros, some noise, markers at page offsets.
fn memory() -> impl Strategy<Value = Vec<u8>> {
    (
        1usize..24,
        proptest::collection::vec((0usize..24, any::<u8>()), 0..8),
        proptest::collection::btree_set(0usize..24, 0..4),
    )
        .prop_map(|(pages, noise, markers)| {
            let mut m = vec![0u8; pages * 4096];
            for (page, b) in noise {
                if page < pages {
                    m[page * 4096 + 1000..page * 4096 + 1100].fill(b | 1);
                }
            }
            for page in markers.into_iter().filter(|p| *p < pages) {
                let marker = encode_fork_marker(&format!("m{page}"), "tok");
                m[page * 4096..page * 4096 + marker.len()].copy_from_slice(&marker);
            }
            m
        })
}

fn file_with(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Skippable frames before (and, for lz4 frames, between) the data are
    /// stepped over: the framing is the codec's, and the markers found are
    /// the raw memory's — none from the skipped bytes.
    #[test]
    fn skippable_frames_never_hide_the_format_or_leak_into_the_data(
        mem in memory(),
        codec in codec(),
        before in proptest::collection::vec((any::<u8>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..4),
        between in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut bytes = Vec::new();
        for (nibble, payload) in &before {
            // A phantom marker in a skippable frame must never be found.
            let mut p = encode_fork_marker("phantom", "p");
            p.extend_from_slice(payload);
            bytes.extend(skippable(*nibble, &p));
        }
        match (codec, &between) {
            (Codec::Lz4Frame, Some(mid)) => {
                let half = mem.len() / 2;
                bytes.extend(encode(codec, &mem[..half]));
                bytes.extend(skippable(7, mid));
                bytes.extend(encode(codec, &mem[half..]));
            }
            _ => bytes.extend(encode(codec, &mem)),
        }
        let path = file_with(dir.path(), "memory.bin", &bytes);
        let raw = file_with(dir.path(), "raw", &mem);
        let want = match codec {
            Codec::Zstd => Compression::Zstd,
            Codec::Lz4Frame | Codec::Lz4Legacy => Compression::Lz4,
        };
        let f = std::fs::File::open(&path).expect("open");
        prop_assert_eq!(framing(&f).expect("framing"), Framing::Compressed(want));
        let got = scan_any(&path, &ScanOptions::default()).expect("scan");
        let reference = scan_file(&raw, &ScanOptions::default()).expect("scan raw");
        prop_assert_eq!(got.markers, reference.markers);
        prop_assert_eq!(got.file_size, mem.len() as u64);
    }

    /// Whatever the bytes, telling the framing never panics; bytes that do
    /// not start with a known magic are raw, and a file that starts with a
    /// skippable frame is never taken for raw memory.
    #[test]
    fn framing_never_panics_and_a_skippable_start_is_never_raw(
        head in proptest::collection::vec(any::<u8>(), 0..64),
        skip_first in any::<bool>(),
        nibble in any::<u8>(),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut bytes = Vec::new();
        if skip_first {
            bytes.extend(skippable(nibble, &head));
        }
        bytes.extend_from_slice(&head);
        let path = file_with(dir.path(), "x", &bytes);
        let f = std::fs::File::open(&path).expect("open");
        let got = framing(&f).expect("framing");
        let magic = bytes.get(..4).map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
        let known = magic.is_some_and(|m| {
            m == 0xFD2F_B528 || m == 0x184D_2204 || m == 0x184C_2102 || m & !0xF == 0x184D_2A50
        });
        if skip_first {
            prop_assert_ne!(got, Framing::Raw);
        } else if !known {
            prop_assert_eq!(got, Framing::Raw);
        }
    }
}

/// A mailbox name by the contract's rule (short ones).
fn mailbox() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9._:-]{0,12}"
}

/// A JSON payload object with a few scalar members.
fn object() -> impl Strategy<Value = Value> {
    proptest::collection::btree_map(
        "[a-z]{1,6}",
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            "[ -~]{0,12}".prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
        ],
        0..4,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A matrix line reads back as written: its name, each mailbox's payload
    /// (an object's text as it appears, a string's content) and its acks.
    #[test]
    fn matrix_lines_read_back_as_written(
        name in proptest::option::of("[a-z][a-z0-9-]{0,10}"),
        payloads in proptest::collection::btree_map(mailbox(), (object(), any::<bool>()), 1..4),
        ack_kind in 0u8..4,
        timeout in 1i64..30_000,
    ) {
        let mut line = serde_json::Map::new();
        if let Some(n) = &name {
            line.insert("name".into(), json!(n));
        }
        let mut p = serde_json::Map::new();
        for (m, (obj, as_string)) in &payloads {
            p.insert(m.clone(), if *as_string { Value::from(obj.to_string()) } else { obj.clone() });
        }
        line.insert("payloads".into(), Value::Object(p));
        let first = payloads.keys().next().cloned().expect("a mailbox");
        let ack = match ack_kind {
            1 => Some(json!(true)),
            2 => Some(json!([first.clone()])),
            3 => Some(json!({ first.clone(): timeout })),
            _ => None,
        };
        if let Some(a) = ack.clone() {
            line.insert("ack".into(), a);
        }
        let text = format!("\n{}\n", Value::Object(line));
        let parsed = parse_matrix(&text).expect("a valid line");
        prop_assert_eq!(parsed.len(), 1);
        let l = &parsed[0];
        prop_assert_eq!(l.line, 2);
        prop_assert_eq!(&l.name, &name);
        let want: Vec<(String, String)> = payloads
            .iter()
            .map(|(m, (obj, _))| (m.clone(), obj.to_string()))
            .collect();
        prop_assert_eq!(&l.payloads, &want);
        let acks = match ack_kind {
            1 => Some(payloads.keys().map(|m| (m.clone(), None)).collect()),
            2 => Some(vec![(first.clone(), None)]),
            3 => Some(vec![(first.clone(), Some(timeout))]),
            _ => None,
        };
        prop_assert_eq!(&l.acks, &acks);
    }

    /// A mailbox named twice in a line's payloads is refused, naming the
    /// line and the mailbox — wherever the two are in the object.
    #[test]
    fn a_mailbox_named_twice_is_refused_with_line_and_name(
        names in proptest::collection::btree_set(mailbox(), 1..4),
        twice in any::<proptest::sample::Index>(),
        blank_lines in 0usize..3,
    ) {
        let names: Vec<String> = names.into_iter().collect();
        let dup = twice.get(&names).clone();
        let mut members: Vec<String> = names.iter().map(|m| format!("{m:?}:{{}}")).collect();
        members.push(format!("{dup:?}:{{\"again\":1}}"));
        let text = format!(
            "{}{{\"payloads\":{{{}}}}}\n",
            "\n".repeat(blank_lines),
            members.join(",")
        );
        let err = parse_matrix(&text).expect_err("refused");
        let is_line = matches!(err, FanoutError::Matrix { line, .. } if line == blank_lines + 1);
        prop_assert!(is_line, "{}", err);
        prop_assert!(err.to_string().contains(&format!("{dup:?}")), "{}", err);
    }

    /// Any text: a list of lines or an error, never a panic.
    #[test]
    fn matrix_parsing_never_panics(text in ".{0,200}") {
        let _ = parse_matrix(&text);
    }
}

/// A JSON value of any shape, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Hypeman's metadata keys, each with a value of any type (or absent).
fn metadata() -> impl Strategy<Value = Value> {
    (
        proptest::collection::btree_map(
            prop_oneof![
                Just("Id".to_string()),
                Just("Name".to_string()),
                Just("HypervisorType".to_string()),
                Just("CreatedAt".to_string()),
                Just("Size".to_string()),
                ".{1,8}",
            ],
            prop_oneof![
                any_json(),
                prop_oneof![
                    Just("firecracker"),
                    Just("cloud-hypervisor"),
                    Just("qemu"),
                    Just("web"),
                    Just("")
                ]
                .prop_map(Value::from),
            ],
            0..6,
        ),
        any_json(),
        0u8..8,
    )
        .prop_map(|(members, other, shape)| match shape {
            // Mostly objects; sometimes any JSON at all.
            0 => other,
            _ => Value::Object(members.into_iter().collect()),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever a guest's `metadata.json` or a central `snapshot.json`
    /// holds (any JSON, or bytes that are not JSON), listing a Hypeman data
    /// directory never panics and never drops the entry: each is a
    /// snapshot or a problem row with its reason.
    #[test]
    fn hypeman_metadata_of_any_shape_is_a_row_never_a_panic(
        meta in metadata(),
        central in any_json(),
        garbage in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("hypeman");
        let latest = root.join("guests/g1/snapshots/snapshot-latest");
        std::fs::create_dir_all(&latest).expect("mkdir");
        std::fs::write(latest.join("memory"), vec![0u8; 8192]).expect("memory");
        std::fs::write(latest.join("state"), b"state").expect("state");
        let bytes = match &garbage {
            Some(g) => g.clone(),
            None => serde_json::to_vec(&meta).expect("json"),
        };
        std::fs::write(root.join("guests/g1/metadata.json"), bytes).expect("metadata");
        let snap = root.join("snapshots/s1");
        std::fs::create_dir_all(snap.join("guest/snapshots/snapshot-latest")).expect("mkdir");
        std::fs::write(
            snap.join("snapshot.json"),
            serde_json::to_vec(&json!({"snapshot": central, "stored_metadata": meta})).expect("json"),
        )
        .expect("snapshot.json");
        let source = open_source(&root).expect("a Hypeman source");
        let listed = source.list();
        let guest = listed.iter().filter(|l| match l {
            Listed::Snapshot(s) => s.dir.starts_with(root.join("guests")),
            Listed::Problem(p) => p.path.starts_with(root.join("guests")),
        }).count();
        prop_assert_eq!(guest, 1, "{:?}", listed);
        let central_rows = listed.iter().filter(|l| match l {
            Listed::Snapshot(s) => s.dir.starts_with(root.join("snapshots")),
            Listed::Problem(p) => p.path.starts_with(root.join("snapshots")),
        }).count();
        prop_assert_eq!(central_rows, 1, "{:?}", listed);
        for l in &listed {
            if let Listed::Snapshot(s) = l {
                prop_assert!(!s.name.is_empty() && !s.id.is_empty(), "{:?}", s);
                prop_assert!(s.read_only);
            }
        }
    }
}
