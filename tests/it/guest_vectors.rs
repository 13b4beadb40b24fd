//! The guest libraries' test vectors (`guest-libs/testdata/vectors.json`)
//! are forkmail's own encoder's bytes: this test makes every vector again
//! with forkmail's functions and compares the file whole. The C (`make
//! test`) and Go (`go test`) libraries are checked against the same file,
//! so all three speak the same bytes. `FORKMAIL_WRITE_VECTORS=1 cargo test
//! guest_vectors` writes the file instead (after a deliberate change of the
//! wire format, never to make this test pass).

use forkmail::guest::{default_gateway, encode_mailbox_param, parse_mailbox_params};
use forkmail::mailbox::{
    FORK_LEN_OFFSET, FORK_MAX_PAYLOAD, FORK_PAYLOAD_OFFSET, FORK_SEQ_OFFSET, MAILBOX_SIZE,
    MailboxKind, MailboxRequest, MemoryAt, RESUME_NETWORK_IDENTITY_END, RESUME_NETWORK_LEN_OFFSET,
    RESUME_NETWORK_MAX_PAYLOAD, RESUME_NETWORK_PAYLOAD_OFFSET, RESUME_NETWORK_SEQ_OFFSET,
    ack_port_of, check_object, check_payload, clear_seq, encode_fork_marker,
    encode_resume_network_marker, format_ack, frame_payload, is_ack_for, name_is_valid, read_frame,
    token_problem, write_frame,
};
use serde_json::{Value, json};

#[test]
fn the_guest_libraries_vectors_are_forkmails_own_bytes() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("guest-libs/testdata/vectors.json");
    let made = vectors();
    if std::env::var_os("FORKMAIL_WRITE_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&made).expect("json") + "\n";
        std::fs::write(&path, text).expect("write the vectors");
        return;
    }
    let text = std::fs::read_to_string(&path).expect("read the vectors");
    let committed: Value = serde_json::from_str(&text).expect("the vectors are JSON");
    for key in made
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        assert_eq!(
            committed[&key], made[&key],
            "guest-libs/testdata/vectors.json, {key:?}: not what forkmail's encoder makes"
        );
    }
    assert_eq!(committed, made);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn armed_page(kind: MailboxKind, name: &str, token: &str) -> Vec<u8> {
    let marker = match kind {
        MailboxKind::Fork => encode_fork_marker(name, token),
        MailboxKind::ResumeNetwork => encode_resume_network_marker(token),
    };
    let mut page = vec![0u8; MAILBOX_SIZE];
    page[..marker.len()].copy_from_slice(&marker);
    page
}

/// Every vector, made by forkmail's own encoder.
fn vectors() -> Value {
    // --- markers -----------------------------------------------------------
    let fork_ids: Vec<(String, String)> = vec![
        ("app.config".into(), "tok-own".into()),
        ("cfg".into(), "chosen-by-guest".into()),
        ("a".into(), "t".into()),
        ("A-b_c:d.9".into(), "with space:and%colon\"quote".into()),
        ("x".into(), "ünïcode ✓ 🦀".into()),
        ("n".repeat(64), "t".repeat(128)),
    ];
    let rn_tokens: Vec<String> = vec!["net-token".into(), "x".into(), "r".repeat(30)];
    let mut markers = Vec::new();
    for (n, t) in &fork_ids {
        let m = encode_fork_marker(n, t);
        markers.push(
            json!({"kind":"fork","name":n,"token":t,"marker_hex":hex(&m),
            "armed_page_hex":hex(&armed_page(MailboxKind::Fork, n, t))}),
        );
    }
    for t in &rn_tokens {
        let m = encode_resume_network_marker(t);
        markers.push(
            json!({"kind":"resume-network","token":t,"marker_hex":hex(&m),
            "armed_page_hex":hex(&armed_page(MailboxKind::ResumeNetwork, "", t))}),
        );
    }

    // --- names and tokens --------------------------------------------------
    let names: Vec<String> = vec![
        "a".into(),
        "app.config".into(),
        "A-b_c:d.9".into(),
        "x".repeat(64),
        "x".repeat(65),
        "".into(),
        "has space".into(),
        "slash/".into(),
        "ü".into(),
        " trim".into(),
        "tab\t".into(),
        "semi;colon".into(),
    ];
    let names_v: Vec<Value> = names
        .iter()
        .map(|n| json!({"name":n,"valid":name_is_valid(n)}))
        .collect();
    let tokens: Vec<String> = vec![
        "t".into(),
        "tok-own".into(),
        " padded ".into(),
        "t".repeat(128),
        "t".repeat(129),
        "ü".repeat(64),
        "ü".repeat(65),
        "".into(),
        "   ".into(),
        " \t\n\r\x0b\x0c".into(),
        "\u{3000}".into(),
        "\u{a0}\u{2028}".into(),
        "\u{85}".into(),
        "nul\0inside".into(),
        "\u{200b}".into(),
        "a b".into(),
    ];
    let tokens_v: Vec<Value> = tokens
        .iter()
        .map(|t| json!({"token":t,"valid":token_problem(t).is_none()}))
        .collect();

    // --- frames: a host patch on an armed page ------------------------------
    let deep = format!(r#"{{"deep":{}1{}}}"#, "[".repeat(1000), "]".repeat(1000));
    let max_bare = r#"{"case":"max-size","pad":""}"#;
    let pad = 3832 - check_payload(max_bare, true).sent_bytes;
    let max = format!(r#"{{"case":"max-size","pad":"{}"}}"#, "x".repeat(pad));
    let utf8 = r#"{"text":"grüße, 日本語, 🦀 ✓","escaped":"quote \" backslash \\ slash \/ newline \n tab \t \u00e9 \ud83e\udd80 \u0000 end"}"#;
    let frames_in: Vec<(&str, &str, String, Option<u16>)> = vec![
        ("app.config", "tok-own", r#"{"db":"postgres://own/1","n":1}"#.into(), Some(40123)),
        ("cfg", "chosen-by-guest", r#"{"mode":"fork"}"#.into(), None),
        ("app.config", "tok-own", max, Some(65535)),
        ("x", "ünïcode ✓ 🦀", utf8.into(), Some(50000)),
        ("a", "t", r#"{ "ack_port" : 1 , "nested":{"ack_port":2}, "s":"\"ack_port\":3", "n":123456789012345678901234567890 }"#.into(), Some(32768)),
        ("a", "t", deep, Some(60999)),
        ("cfg", "chosen-by-guest", "{\n  \"ack_port\": 45000,\n  \"a\": [1, 2]\n}".into(), None),
        ("cfg", "chosen-by-guest", "{}".into(), None),
    ];
    let mut frames = Vec::new();
    for (name, token, payload, port) in &frames_in {
        let req = MailboxRequest {
            name: name.to_string(),
            token: token.to_string(),
            payload: Some(payload.clone()),
            wait_for_ack: port.is_some(),
            ack_timeout_ms: None,
        };
        let bytes = frame_payload(&req, *port).expect("fits");
        let armed = armed_page(MailboxKind::Fork, name, token);
        let mut page = armed.clone();
        write_frame(&mut page, MailboxKind::Fork, 0, &bytes).expect("write");
        let f = read_frame(&page, MailboxKind::Fork, 0).expect("read");
        assert_eq!(f.payload.as_deref(), Some(&bytes[..]));
        let mut reset = page.clone();
        clear_seq(&mut reset, MailboxKind::Fork, 0).expect("clear");
        frames.push(json!({
            "kind":"fork","name":name,"token":token,"request_payload":payload,
            "injected_ack_port":port,
            "payload":String::from_utf8(bytes.clone()).expect("utf-8"),
            "payload_hex":hex(&bytes),
            "ack_port":ack_port_of(&bytes),
            "ack_line":format_ack(name),
            "valid":true,
            "armed_page_hex":hex(&armed),"patched_page_hex":hex(&page),"reset_page_hex":hex(&reset),
        }));
    }
    // Resume-network frames (forkmail writes none in a fork, but write_frame
    // encodes them; the layout is the contract's).
    let rn_payload = r#"{"interface_name":"eth0","mac":"52:54:00:12:34:56","ipv4":"10.0.2.15","prefix":24,"gateway":"10.0.2.2","ack_port":41000}"#.to_string();
    let rn_max = format!(r#"{{"pad":"{}"}}"#, "y".repeat(4024 - 10));
    for payload in [&rn_payload, &rn_max] {
        let armed = armed_page(MailboxKind::ResumeNetwork, "", "net-token");
        let mut page = armed.clone();
        write_frame(&mut page, MailboxKind::ResumeNetwork, 0, payload.as_bytes()).expect("write");
        let mut reset = page.clone();
        clear_seq(&mut reset, MailboxKind::ResumeNetwork, 0).expect("clear");
        frames.push(json!({
            "kind":"resume-network","token":"net-token","request_payload":payload,
            "injected_ack_port":null,"payload":payload,"payload_hex":hex(payload.as_bytes()),
            "ack_port":ack_port_of(payload.as_bytes()),"valid":true,
            "armed_page_hex":hex(&armed),"patched_page_hex":hex(&page),"reset_page_hex":hex(&reset),
        }));
    }
    // Frames forkmail refuses to write, made from a valid one by poking the
    // layout: what a guest must reject (or, for seq=2, accept).
    type Poke = Box<dyn Fn(&mut Vec<u8>)>;
    let bad: Vec<(&str, Poke, bool)> = vec![
        (
            "length 3833 declared",
            Box::new(|p: &mut Vec<u8>| p.write_all_at(&3833u32.to_le_bytes(), 260).unwrap()),
            false,
        ),
        (
            "length 0xffffffff declared",
            Box::new(|p: &mut Vec<u8>| p.write_all_at(&u32::MAX.to_le_bytes(), 260).unwrap()),
            false,
        ),
        (
            "a NUL inside the payload",
            Box::new(|p: &mut Vec<u8>| p.write_all_at(&[0], 264 + 3).unwrap()),
            false,
        ),
        (
            "invalid UTF-8 inside the payload",
            Box::new(|p: &mut Vec<u8>| p.write_all_at(&[0xff], 264 + 3).unwrap()),
            false,
        ),
        (
            "seq 2: any non-zero seq publishes",
            Box::new(|p: &mut Vec<u8>| p.write_all_at(&2u32.to_le_bytes(), 256).unwrap()),
            true,
        ),
    ];
    for (what, poke, valid) in bad {
        let armed = armed_page(MailboxKind::Fork, "a", "t");
        let mut page = armed.clone();
        write_frame(&mut page, MailboxKind::Fork, 0, br#"{"ack_port":40000}"#).unwrap();
        poke(&mut page);
        let mut reset = page.clone();
        clear_seq(&mut reset, MailboxKind::Fork, 0).unwrap();
        let f = read_frame(&page, MailboxKind::Fork, 0).unwrap();
        let mut v = json!({
            "kind":"fork","name":"a","token":"t","hand_made":what,"valid":valid,
            "armed_page_hex":hex(&armed),"patched_page_hex":hex(&page),"reset_page_hex":hex(&reset),
            "ack_line":format_ack("a"),
        });
        if valid {
            let bytes = f.payload.unwrap();
            v["payload"] = json!(String::from_utf8(bytes.clone()).unwrap());
            v["payload_hex"] = json!(hex(&bytes));
            v["ack_port"] = json!(ack_port_of(&bytes));
        }
        frames.push(v);
    }
    // Nothing published: an armed page with a length but seq 0.
    {
        let armed = armed_page(MailboxKind::Fork, "a", "t");
        let mut page = armed.clone();
        write_frame(&mut page, MailboxKind::Fork, 0, b"{}").unwrap();
        clear_seq(&mut page, MailboxKind::Fork, 0).unwrap();
        frames.push(json!({"kind":"fork","name":"a","token":"t","hand_made":"seq 0: nothing published (a consumed frame)",
            "valid":true,"empty":true,"armed_page_hex":hex(&armed),"patched_page_hex":hex(&page),"reset_page_hex":hex(&page),
            "ack_line":format_ack("a")}));
    }

    // --- acks -------------------------------------------------------------
    let acks: Vec<Value> = ["app.config", "a", "foo.v1", "A-b_c:d.9", &"x".repeat(64)]
        .iter()
        .map(|n| {
            let line = format_ack(n);
            assert!(is_ack_for(line.as_bytes(), n));
            json!({"name":n,"line":line})
        })
        .collect();

    // --- ack_port extraction ----------------------------------------------
    let mut cases: Vec<Vec<u8>> = [
        r#"{"ack_port":40123}"#,
        r#"{"ack_port":0}"#,
        r#"{"ack_port":1}"#,
        r#"{"ack_port":65535}"#,
        r#"{"ack_port":65536}"#,
        r#"{"ack_port":99999999999999999999}"#,
        r#"{"ack_port":-1}"#,
        r#"{"ack_port":-0}"#,
        r#"{"ack_port":1.0}"#,
        r#"{"ack_port":1e3}"#,
        r#"{"ack_port":1E3}"#,
        r#"{"ack_port":0.5}"#,
        r#"{"ack_port":123456789012345678901234567890}"#,
        r#"{"ack_port":"40123"}"#,
        r#"{"ack_port":null}"#,
        r#"{"ack_port":true}"#,
        r#"{"ack_port":false}"#,
        r#"{"ack_port":[40123]}"#,
        r#"{"ack_port":{"port":40123}}"#,
        "{}",
        r#"{"a":1}"#,
        r#"{"nested":{"ack_port":40123}}"#,
        r#"{"list":[{"ack_port":40123}]}"#,
        r#"{"s":"\"ack_port\":40123"}"#,
        r#"{"s":"ack_port","t":40123}"#,
        r#"{"ack_port_x":1,"x_ack_port":2}"#,
        r#"{"ACK_PORT":1}"#,
        r#"{"ack\u005fport":40123}"#,
        r#"{"\u0061ck_port":40124}"#,
        r#"{"ack_port\u0000":1}"#,
        r#"{"ack_port ":1}"#,
        r#"{" ack_port":1}"#,
        " \t\n\r{ \t\n\r\"ack_port\" \t\n\r: \t\n\r40123 \t\n\r} \t\n\r",
        r#"{"ack_port":1,"ack_port":2}"#,
        r#"{"ack_port":1,"ack_port":"x"}"#,
        r#"{"ack_port":"x","ack_port":3}"#,
        r#"{"nested":{"ack_port":1},"ack_port":2}"#,
        r#"{"ack_port":2,"nested":{"ack_port":1}}"#,
        r#"{"a":"}","ack_port":7}"#,
        r#"{"a":"{","ack_port":7}"#,
        r#"{"a":"\\","ack_port":8}"#,
        r#"{"a":"\\\"","ack_port":9}"#,
        r#"{"a":[1,{"b":[]}],"ack_port":10,"c":{}}"#,
        r#"{"big":1e400,"ack_port":12}"#,
        r#"{"neg":-1.5E-7,"ack_port":12}"#,
        r#"{"u":"\ud83e\udd80","ack_port":13}"#,
        r#"{"u":"\ud800","ack_port":14}"#,
        r#"{"u":"\udc00","ack_port":14}"#,
        r#"{"u":"\ud800\u0041","ack_port":14}"#,
        r#"{"k":"grüße 日本語 🦀","ack_port":15}"#,
        r#"{"e":"\"\\\/\b\f\n\r\t\u00e9","ack_port":15}"#,
        r#"[{"ack_port":1}]"#,
        r#""ack_port""#,
        "40123",
        "null",
        "",
        r#"{"ack_port":16} x"#,
        r#"{"ack_port":16}{}"#,
        r#"{"ack_port":17,}"#,
        r#"{"ack_port":18"#,
        r#"{"ack_port" 19}"#,
        r#"{ack_port:20}"#,
        r#"{'ack_port':20}"#,
        r#"{"a":01,"ack_port":21}"#,
        r#"{"ack_port":021}"#,
        r#"{"a":tru,"ack_port":22}"#,
        r#"{"a":nul,"ack_port":22}"#,
        r#"{"a":[1,],"ack_port":22}"#,
        r#"{"a":[1 2],"ack_port":22}"#,
        r#"{"a":{"b"},"ack_port":22}"#,
        r#"{"a":{"b":1,},"ack_port":22}"#,
        r#"{"a":[},"ack_port":22}"#,
        r#"{"a":{],"ack_port":22}"#,
        "{\"a\":\"tab\there\",\"ack_port\":23}",
        "{\"ack_port\":23}\n",
        r#"{"a":"x\q","ack_port":24}"#,
        r#"{"a":"\u12","ack_port":24}"#,
        r#"{"a":"\u12G4","ack_port":24}"#,
        r#"{"a":1.,"ack_port":25}"#,
        r#"{"a":.5,"ack_port":25}"#,
        r#"{"a":1e,"ack_port":25}"#,
        r#"{"a":+1,"ack_port":25}"#,
        r#"{"a":-,"ack_port":25}"#,
        r#"{"ack_port":+25}"#,
        r#"{"ack_port":25"#,
        r#"{"ack_port":"#,
        r#"{"ack_port""#,
        r#"{"#,
        r#"{"ack_port":26 "#,
        r#"{"a":"unterminated}"#,
        r#"{,"ack_port":27}"#,
        r#"{"ack_port":28}}"#,
        "\u{feff}{\"ack_port\":29}",
        "{\"ack_port\"\u{a0}:30}",
        r#"{"\ud800":1,"ack_port":33}"#,
        r#"{"ack_port":34,"\udc00x":1}"#,
        r#"{"ack_port":35,"k":"\ud800\ud800"}"#,
        r#"{"ack_port":36,"k":"\uDBFF\uDFFF\u0000"}"#,
        r#"{"a":{"\ud800":1},"ack_port":37}"#,
        r#"{"\ud83e\udd80":1,"ack_port":38}"#,
        r#"{"\ud800\u0041":1,"ack_port":39}"#,
        r#"{"\ud800\ud800":1,"ack_port":40}"#,
        r#"{"x\ud800":1,"ack_port":41}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    cases.push(
        format!(
            r#"{{"deep":{}1{},"ack_port":11}}"#,
            "[".repeat(1000),
            "]".repeat(1000)
        )
        .into_bytes(),
    );
    cases.push(
        format!(
            r#"{{"deep":{}{},"ack_port":11}}"#,
            r#"{"a":"#.repeat(1000),
            "1".to_string() + &"}".repeat(1000)
        )
        .into_bytes(),
    );
    cases.push(b"{\"a\":\"\xff\",\"ack_port\":31}".to_vec());
    cases.push(b"{\"a\":\"\xc3\",\"ack_port\":31}".to_vec());
    cases.push(b"{\"a\":\"\xed\xa0\x80\",\"ack_port\":31}".to_vec());
    cases.push(b"{\"a\":\"\xc0\xaf\",\"ack_port\":31}".to_vec());
    cases.push(b"{\"ack_port\":32}\0".to_vec());
    let ack_ports: Vec<Value> = cases
        .iter()
        .map(|c| {
            let text = std::str::from_utf8(c).ok();
            let object = text.is_some_and(|t| check_object(t).is_ok());
            json!({"json":text,"json_hex":hex(c),"ack_port":ack_port_of(c),"is_object":object})
        })
        .collect();

    // --- kernel command line ----------------------------------------------
    let params: Vec<Value> = [
        ("app", "tok1"),
        ("a:b.c", "with space:and%colon\"quote"),
        ("x", "ünïcode"),
        ("app.config", "tok-own"),
        ("n", "~._-AZaz09"),
    ]
    .iter()
    .map(|(n, t)| json!({"name":n,"token":t,"param":encode_mailbox_param(n, t)}))
    .collect();
    let long_name = format!("forkmail.mailbox={}:t", "n".repeat(65));
    let long_token = format!("forkmail.mailbox=n:{}", "t".repeat(129));
    let lines = [
        "console=ttyS0 quiet forkmail.mailbox=app:tok1 forkmail.mailbox=a:b.c:with%20space%3Aand%25colon%22quote other.param=1\n",
        "forkmail.mailbox=x:%C3%BCn%C3%AFcode\tforkmail.mailbox=y:%c3%bc",
        "forkmail.mailboxes=x:y forkmail.mailbox.extra=1 xforkmail.mailbox=a:b forkmail.mailbox=ok:yes",
        "forkmail.mailbox=a:b:c",
        "quiet",
        "",
        "forkmail.mailbox=nocolon",
        "forkmail.mailbox=a:%4",
        "forkmail.mailbox=a:%zz",
        "forkmail.mailbox=a:%FF",
        "forkmail.mailbox=a:b forkmail.mailbox=bad",
        "forkmail.mailbox=:tok forkmail.mailbox=name:",
        "forkmail.mailbox=a:%+F",
        "forkmail.mailbox=a:x%00y",
        &long_name,
        &long_token,
    ];
    let cmdlines: Vec<Value> = lines
        .iter()
        .map(|l| match parse_mailbox_params(l) {
            Ok(v) => json!({"cmdline":l,"ok":true,"params":v.iter().map(|(n,t)| json!({"name":n,"token":t})).collect::<Vec<_>>()}),
            Err(_) => json!({"cmdline":l,"ok":false}),
        })
        .collect();

    // --- default gateway ---------------------------------------------------
    let head =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";
    let routes = [
        format!(
            "{head}eth0\t00000000\t0202000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\neth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        ),
        format!(
            "{head}eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\neth1\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
        ),
        format!("{head}eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"),
        head.to_string(),
        String::new(),
        format!(
            "{head}eth0\t00000000\t0101FEAC\t0003\t0\t0\t0\t00000000\t0\t0\t0\neth1\t00000000\t0202000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        ),
        format!("{head}eth0    00000000    FFFFFFFF   0003 0 0 0 00000000 0 0 0\n"),
        format!("{head}eth0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n"),
    ];
    let gateways: Vec<Value> = routes
        .iter()
        .map(|r| json!({"route":r,"gateway":default_gateway(r).map(|g| g.to_string())}))
        .collect();

    let doc = json!({
        "about": "Test vectors for the guest libraries, generated by forkmail's own encoder; see README.md beside this file for the function behind each field.",
        "layout": {"page_size":MAILBOX_SIZE,
                   "fork":{"seq":FORK_SEQ_OFFSET,"len":FORK_LEN_OFFSET,"payload":FORK_PAYLOAD_OFFSET,"max_payload":FORK_MAX_PAYLOAD},
                   "resume_network":{"seq":RESUME_NETWORK_SEQ_OFFSET,"len":RESUME_NETWORK_LEN_OFFSET,"payload":RESUME_NETWORK_PAYLOAD_OFFSET,
                                     "max_payload":RESUME_NETWORK_MAX_PAYLOAD,"identity_end":RESUME_NETWORK_IDENTITY_END}},
        "markers": markers,
        "names": names_v,
        "tokens": tokens_v,
        "frames": frames,
        "acks": acks,
        "ack_port": ack_ports,
        "cmdline_params": params,
        "cmdlines": cmdlines,
        "gateways": gateways,
    });
    doc
}
