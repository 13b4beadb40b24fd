//! The rewrite's parts on their own: Firecracker's state (CRC, header,
//! length prefixes, what must be refused), Hypeman's same-length method
//! for comparison, the lexical inside test, the check that finds paths
//! outside DIR. End-to-end exports are in `transfer::export_tests`.

use std::path::Path;

use super::fc_state::{self, FcStateError};
use super::*;
use crate::source::tests::fixture::{self, FcState, hypeman};

fn rewrite(
    state: &FcState,
    guard: &str,
    map: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<u8>, FcStateError> {
    fc_state::rewrite_path_strings(&state.encode(), &[guard], &mut |p| map(p)).map(|(b, _)| b)
}

#[test]
fn the_table_crc_is_firecrackers_bit_by_bit_one() {
    for data in [&b""[..], b"123456789", &fixture::filler(5000, 9)] {
        assert_eq!(crc64::crc64(0, data), fixture::fc_crc64(data));
    }
}

#[test]
fn path_strings_are_exactly_the_states_paths() {
    let fx = hypeman();
    let state = fixture::fc_state(&fx, &fx.guest("fc-web"));
    let bytes = state.encode();
    let (header, found) = fc_state::path_strings(&bytes).unwrap();
    assert_eq!(
        (header.version.as_str(), header.major()),
        ("8.0.0", Some(8))
    );
    assert_eq!(header.arch(), "x86_64");
    let mut got: Vec<String> = found.into_iter().map(|p| p.value).collect();
    let mut want = vec![state.kernel_image_path.clone()];
    want.extend(state.initrd_path.clone());
    want.extend(state.blocks.iter().map(|b| b.disk_path.clone()));
    want.extend(state.vsock.iter().map(|v| v.uds_path.clone()));
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn firecracker_state_rewrite_rules() {
    let fx = hypeman();
    let dir = fx.guest("fc-web");
    let src = dir.to_string_lossy().into_owned();
    let state = fixture::fc_state(&fx, &dir);
    let to_short = |p: &str| p.strip_prefix(&*src).map(|rest| format!("/x{rest}"));
    let to_long = |p: &str| {
        p.strip_prefix(&*src)
            .map(|rest| format!("/a/much/longer/export/directory{rest}"))
    };

    // Length changes in the bincode layout: the prefixes follow, it parses.
    for map in [&to_short as &dyn Fn(&str) -> Option<String>, &to_long] {
        let back = FcState::decode(&rewrite(&state, &src, map).unwrap());
        assert_eq!(
            back.blocks[1].disk_path,
            map(&state.blocks[1].disk_path).unwrap()
        );
        assert_eq!(
            back.vsock.as_ref().unwrap().uds_path,
            map(&state.vsock.as_ref().unwrap().uds_path).unwrap()
        );
        assert_eq!(
            (back.kvm, back.nets),
            (state.kvm.clone(), state.nets.clone())
        );
    }
    // The source directory inside boot args: refused.
    let mut embedded = state.clone();
    embedded.boot_args = Some(format!("console=ttyS0 hm.dir={src}/logs"));
    assert!(matches!(
        rewrite(&embedded, &src, &to_short),
        Err(FcStateError::Embedded { .. })
    ));
    // Another layout version: only same-length replacements.
    let mut v11 = state.clone();
    v11.version = "11.0.0".into();
    assert!(matches!(
        rewrite(&v11, &src, &to_short),
        Err(FcStateError::CannotResize { .. })
    ));
    let same_len = |p: &str| {
        p.strip_prefix(&*src)
            .map(|rest| format!("/{}{rest}", "y".repeat(src.len() - 1)))
    };
    let out = rewrite(&v11, &src, &same_len).unwrap();
    assert!(
        FcState::decode(&out).blocks[1]
            .disk_path
            .starts_with("/yyy")
    );
    // Replacements that are not paths.
    assert!(matches!(
        rewrite(&state, &src, &|p: &str| p
            .starts_with(&*src)
            .then(|| "bad\npath".to_string())),
        Err(FcStateError::BadReplacement(_))
    ));
    // A bad CRC is refused before anything is rewritten; junk is no header.
    let mut bad = state.encode();
    bad[20] ^= 0xff;
    assert!(matches!(
        fc_state::rewrite_path_strings(&bad, &[], &mut |_| None),
        Err(FcStateError::Crc("before path rewrite"))
    ));
    let junk = crc64::with_trailer(vec![0u8; 64]);
    assert!(matches!(
        fc_state::path_strings(&junk),
        Err(FcStateError::Header(_))
    ));
    assert!(matches!(
        fc_state::path_strings(&[1, 2]),
        Err(FcStateError::TooShort(2))
    ));
}

#[test]
fn hypemans_same_length_method_agrees_where_it_applies() {
    let fx = hypeman();
    let dir = fx.guest("fc-web");
    let src = dir.to_string_lossy().into_owned();
    let state = fixture::fc_state(&fx, &dir);
    let data = state.encode();
    // A fork directory as long as the source's (cuid2 ids are): both
    // methods give the same bytes.
    let target = src.replace("fc-web", "fk-web");
    let hypeman = fc_state::hypeman_same_length(&data, &src, &target)
        .unwrap()
        .unwrap();
    let ours = rewrite(&state, &src, &|p: &str| {
        p.strip_prefix(&*src).map(|rest| format!("{target}{rest}"))
    })
    .unwrap();
    assert_eq!(hypeman, ours);
    // Another length: Hypeman does not rewrite (it aliases the directory).
    assert!(
        fc_state::hypeman_same_length(&data, &src, "/short")
            .unwrap()
            .is_none()
    );
    assert!(
        fc_state::hypeman_same_length(&data, "/not/there", "/not/here")
            .unwrap()
            .is_none()
    );
}

#[test]
fn inside_is_by_name() {
    let d = Path::new("/e/x");
    assert!(is_inside(d, Path::new("/e/x/files/a")));
    assert!(is_inside(d, Path::new("/e//x/./a")));
    assert!(!is_inside(d, Path::new("/e/x/../y")));
    assert!(!is_inside(d, Path::new("/e/xy")));
    assert!(!is_inside(d, Path::new("x/a")));
}

#[test]
fn the_check_finds_every_source_path_of_an_unrewritten_snapshot() {
    let fx = hypeman();
    let dir = fx.latest("ch-api");
    // The source's own device state, checked against an export directory:
    // every disk, socket, kernel and initrd is outside it.
    let outside = paths_outside(
        Path::new("/export"),
        &[dir.join("config.json"), dir.join("state.json")],
    )
    .unwrap();
    let mut paths: Vec<&str> = outside.iter().map(|o| o.path.as_str()).collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), 7, "{paths:#?}");
    assert!(
        outside.iter().any(|o| o.location.contains("(json)")),
        "nested JSON is read"
    );
    let fc = paths_outside(Path::new("/export"), &[fx.latest("fc-web").join("state")]).unwrap();
    assert_eq!(fc.len(), 6, "{fc:#?}");
}

#[test]
fn sockets_and_logs_never_take_an_exported_files_name() {
    let plan = ExportPlan {
        recorded_dirs: vec!["/src".into()],
        paths: vec![
            NamedPath {
                path: "/src/state".into(),
                role: Role::Socket,
                location: "a".into(),
                stored: None,
            },
            NamedPath {
                path: "/other/state".into(),
                role: Role::Created,
                location: "b".into(),
                stored: None,
            },
            NamedPath {
                path: "/src/disk".into(),
                role: Role::File,
                location: "c".into(),
                stored: None,
            },
        ],
        ..ExportPlan::default()
    };
    let err = mapping(&plan, Path::new("/e")).unwrap_err();
    assert!(
        matches!(err, RewriteError::Refused(_)),
        "an uncarried file: {err}"
    );
    let mut plan = plan;
    plan.paths[2].stored = Some("files/disk".into());
    let map = mapping(&plan, Path::new("/e")).unwrap();
    assert_eq!(map["/src/state"], "/e/2-state");
    assert_eq!(map["/other/state"], "/e/3-state");
    assert_eq!(map["/src/disk"], "/e/files/disk");
}

mod properties {
    //! Property tests (bounded cases): Firecracker states of any paths
    //! rewrite to exactly the mapped paths and parse back; any bytes behind
    //! a valid header and CRC never make the scanner or the rewrite panic.

    use proptest::prelude::*;

    use super::super::crc64;
    use super::super::fc_state;
    use crate::source::tests::fixture::{FcBlock, FcState, FcVsock, filler};

    fn path() -> impl Strategy<Value = String> {
        "/[a-z0-9._-]{1,12}(/[a-z0-9._-]{1,12}){0,6}"
    }

    fn state(kernel: String, disks: Vec<String>, vsock: Option<String>) -> FcState {
        FcState {
            version: "8.0.0".into(),
            mem_size_mib: 4,
            kernel_image_path: kernel,
            initrd_path: None,
            boot_args: Some("console=ttyS0".into()),
            kvm: filler(3000, 1),
            blocks: disks
                .into_iter()
                .enumerate()
                .map(|(i, d)| FcBlock {
                    id: format!("disk{i}"),
                    partuuid: None,
                    root_device: i == 0,
                    disk_path: d,
                    tail: filler(64, i as u64),
                })
                .collect(),
            nets: Vec::new(),
            vsock: vsock.map(|v| FcVsock {
                uds_path: v,
                cid: 3,
                tail: filler(40, 9),
            }),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn any_paths_rewrite_to_exactly_the_mapped_ones(
            kernel in path(),
            disks in proptest::collection::vec(path(), 1..5),
            vsock in proptest::option::of(path()),
            dir in path(),
        ) {
            let before = state(kernel, disks, vsock);
            let map = |p: &str| Some(format!("{dir}/x{p}"));
            let (out, _) = fc_state::rewrite_path_strings(&before.encode(), &[], &mut |p| map(p))
                .expect("rewrite");
            let after = FcState::decode(&out);
            prop_assert_eq!(&after.kernel_image_path, &map(&before.kernel_image_path).unwrap());
            for (a, b) in after.blocks.iter().zip(&before.blocks) {
                prop_assert_eq!(&a.disk_path, &map(&b.disk_path).unwrap());
                prop_assert_eq!(&a.tail, &b.tail);
            }
            prop_assert_eq!(
                after.vsock.map(|v| v.uds_path),
                before.vsock.map(|v| map(&v.uds_path).unwrap())
            );
            prop_assert_eq!(after.kvm, before.kvm);
        }

        #[test]
        fn any_bytes_never_make_the_scanner_or_the_rewrite_panic(
            body in proptest::collection::vec(any::<u8>(), 0..2000),
            slashes in proptest::collection::vec(0usize..2000, 0..20),
        ) {
            let mut data = fc_state::MAGIC_X86_64.to_le_bytes().to_vec();
            data.extend_from_slice(&5u64.to_le_bytes());
            data.extend_from_slice(b"8.0.0");
            let mut body = body;
            for s in slashes {
                if let Some(b) = body.get_mut(s) {
                    *b = b'/';
                }
            }
            data.extend_from_slice(&body);
            let data = crc64::with_trailer(data);
            let _ = fc_state::path_strings(&data);
            if let Ok((out, _)) = fc_state::rewrite_path_strings(&data, &["/a"], &mut |p| {
                Some(format!("/export{p}"))
            }) {
                prop_assert!(crc64::trailer_ok(&out));
            }
            let _ = fc_state::hypeman_same_length(&data, "/a", "/b");
        }
    }
}

#[test]
fn a_header_that_runs_into_the_crc_is_too_short_not_a_panic() {
    // A version string whose length takes in the CRC: the CRC checks, and
    // the body would end before it starts (here the version does not parse
    // either; either way an error, never a slice out of range).
    let mut data = fc_state::MAGIC_X86_64.to_le_bytes().to_vec();
    data.extend_from_slice(&13u64.to_le_bytes());
    data.extend_from_slice(b"8.0.0");
    let crc = crc64::crc64(0, &data);
    data.extend_from_slice(&crc.to_le_bytes());
    assert!(crc64::trailer_ok(&data));
    assert!(fc_state::path_strings(&data).is_err());
    assert!(fc_state::rewrite_path_strings(&data, &["/a"], &mut |_| None).is_err());
}
