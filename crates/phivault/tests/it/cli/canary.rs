//! Canary PHI values go in through every door and must come out only through a successful
//! read: never in the database file, its WAL, the server's logs or an error body.

use super::*;

// Distinctive PHI values. Each must be readable through a successful read and must appear
// nowhere else: not in the database or its WAL, not in the server's debug log, not in any
// error body.
const NAME: &str = "CANARYzq7x-Name";
const SSN: &str = "987-65-4321";
const NOTE: &str = "CANARYnote-ab12 Lives At 12 Elm St";
const DOB: &str = "1907-03-14";
/// Irregular spacing and case, so that its normalised search form differs from its
/// lower-case form.
const NAME_SPACED: &str = "CANARY  Spaced   Person-Qv5";
const NAME2: &str = "CANARYupd8-Name";
const SSN2: &str = "987-65-4329";
const NOTE2: &str = "CANARYnote-upd9";
const DOB2: &str = "1911-11-29";
// Values that only ever travel in refused requests.
const BAD_TYPE: &str = "CANARYbadtype-w3";
const BAD_FIELD: &str = "CANARYfield_k3";
const BAD_FIELD_VALUE: &str = "CANARYval-k3";
const BAD_JSON: &str = "CANARYjson-m4";
const BAD_SEARCH: &str = "CANARYsearch-p6";
const BAD_TOKEN: &str = "CANARYtoken-t7";
const BAD_COLLECTION: &str = "CANARYcoll-c8";
const BAD_SUBJECT: &str = "CANARY subj-s9";
const BAD_PURPOSE: &str = "CANARYpurpose-u1";
const BAD_PATH: &str = "CANARYpath-r2";
const PLAINTEXT: &str = "CANARYplain-h1";

const CANARIES: [&str; 20] = [
    NAME,
    SSN,
    NOTE,
    DOB,
    NAME_SPACED,
    NAME2,
    SSN2,
    NOTE2,
    DOB2,
    BAD_TYPE,
    BAD_FIELD,
    BAD_FIELD_VALUE,
    BAD_JSON,
    BAD_SEARCH,
    BAD_TOKEN,
    BAD_COLLECTION,
    BAD_SUBJECT,
    BAD_PURPOSE,
    BAD_PATH,
    PLAINTEXT,
];

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Every form in which a canary could leak: as sent, lower-cased, and normalised as the
/// blind index normalises search values.
fn canary_forms(secrets: &[String]) -> Vec<String> {
    let mut forms = Vec::new();
    for c in secrets {
        for f in [
            c.clone(),
            c.to_lowercase(),
            phivault_crypto::normalise_for_index(c),
        ] {
            if !forms.contains(&f) {
                forms.push(f);
            }
        }
    }
    forms
}

/// Asserts that no canary form occurs in `bytes`; `what` names the haystack.
#[track_caller]
fn assert_no_canary(what: &str, bytes: &[u8], secrets: &[String]) {
    let leaked: Vec<_> = canary_forms(secrets)
        .into_iter()
        .filter(|f| contains(bytes, f.as_bytes()))
        .collect();
    assert!(leaked.is_empty(), "{what} contains {leaked:?}");
}

/// The database and its WAL (if present) must not hold a canary, while the schema, which
/// is stored in the clear, must be found: that proves the bytes scanned are the vault's.
#[track_caller]
fn assert_store_clean(dir: &Path, secrets: &[String], when: &str) -> u64 {
    let db = fs::read(dir.join("phivault.db")).unwrap();
    assert_no_canary(&format!("phivault.db ({when})"), &db, secrets);
    let wal = fs::read(dir.join("phivault.db-wal")).unwrap_or_default();
    assert_no_canary(&format!("phivault.db-wal ({when})"), &wal, secrets);
    // The schema (field names) is stored in the clear in one of the two.
    assert!(
        contains(&db, b"full_name") || contains(&wal, b"full_name"),
        "the scan does not see the database ({when})"
    );
    let size = (db.len() + wal.len()) as u64;
    // Every other file of the data directory too (keyring, config, certificate, shm).
    for (path, bytes, _) in snapshot(dir) {
        assert_no_canary(&format!("{} ({when})", path.display()), &bytes, secrets);
    }
    size
}

/// A request the canary test expects to be refused.
struct Bad {
    /// The expected status, or 0 for any 4xx.
    want: u16,
    method: Method,
    url: String,
    token: String,
    /// The stated purpose of use: `TREAT` unless a case sets another or none.
    purpose: Option<String>,
    headers: Vec<(&'static str, String)>,
    body: Option<(&'static str, String)>,
}

impl Bad {
    fn new(want: u16, method: Method, url: &str, token: &str) -> Bad {
        Bad {
            want,
            method,
            url: url.to_owned(),
            token: token.to_owned(),
            purpose: Some(PURPOSE.to_owned()),
            headers: Vec::new(),
            body: None,
        }
    }

    fn purpose(mut self, value: &str) -> Bad {
        self.purpose = Some(value.to_owned());
        self
    }

    fn no_purpose(mut self) -> Bad {
        self.purpose = None;
        self
    }

    fn header(mut self, name: &'static str, value: &str) -> Bad {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn body(mut self, content_type: &'static str, body: String) -> Bad {
        self.body = Some((content_type, body));
        self
    }

    fn json(self, v: Value) -> Bad {
        self.body("application/json", v.to_string())
    }

    /// Sends the request and checks that it was refused with the expected status and a
    /// problem document; returns a description, the status and the body.
    async fn send(self, http: &reqwest::Client) -> (String, u16, Vec<u8>) {
        let what = format!(
            "{} {} (purpose {:?}) {:?}",
            self.method, self.url, self.purpose, self.body
        );
        let mut req = http
            .request(self.method, &self.url)
            .bearer_auth(&self.token);
        if let Some(purpose) = &self.purpose {
            req = req.header("x-purpose-of-use", purpose);
        }
        for (name, value) in &self.headers {
            req = req.header(*name, value);
        }
        if let Some((content_type, body)) = self.body {
            req = req.header("content-type", content_type).body(body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = res.bytes().await.unwrap().to_vec();
        let text = String::from_utf8_lossy(&body);
        if self.want == 0 {
            assert!((400..500).contains(&status), "{what}: {status} {text}");
        } else {
            assert_eq!(status, self.want, "{what}: {text}");
        }
        assert_eq!(content_type, "application/problem+json", "{what}");
        let problem: Value = serde_json::from_slice(&body).unwrap();
        assert!(problem["code"].is_string(), "{what}: {problem}");
        (what, status, body)
    }
}

#[tokio::test]
async fn canary_phi_never_reaches_the_database_the_logs_or_error_bodies() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("vault");
    let logs = tmp.path().join("logs");
    let admin = init(&dir);
    let app = app_token(&dir);
    let mut secrets: Vec<String> = CANARIES.iter().map(|s| (*s).to_owned()).collect();
    // The API tokens are secrets too: only their hashes may be stored, and they are never
    // logged.
    secrets.push(admin.clone());
    secrets.push(app.clone());

    let mut cmd = phivault();
    cmd.env("PHIVAULT_LOG", "debug")
        .arg("--data-dir")
        .arg(&dir)
        .arg("serve");
    let server = Server::spawn(cmd, dir.join("tls/cert.pem"), &logs, "canary", || true).await;
    // The administrator declares the collection; the application reads and writes records.
    let c = server.records(&app);
    server.client(&admin).create_collection(&collection(json!({
        "name": "patients",
        "fields": [
            {"name": "full_name", "type": "string", "sensitivity": {"class": "phi", "identifier": "name"}, "searchable": true, "required": true},
            {"name": "ssn", "type": "string", "sensitivity": {"class": "phi", "identifier": "ssn"}, "searchable": true},
            {"name": "birth_date", "type": "date", "sensitivity": {"class": "phi", "identifier": "date"}},
            {"name": "note", "type": "text", "sensitivity": {"class": "health"}},
            {"name": "visits", "type": "integer", "sensitivity": {"class": "health"}}
        ]
    })))
    .await
    .unwrap();
    let size_before = assert_store_clean(&dir, &secrets, "before writes");

    // Write, read and search the canaries.
    let first =
        json!({"full_name": NAME, "ssn": SSN, "birth_date": DOB, "note": NOTE, "visits": 3});
    let rec1 = c
        .create_record("patients", "subj-0001", first.clone())
        .await
        .unwrap();
    assert_eq!(Value::Object(rec1.data.clone()), first);
    let second = json!({"full_name": NAME_SPACED, "note": NOTE});
    let rec2 = c
        .create_record("patients", "subj-0002", second.clone())
        .await
        .unwrap();

    let got = c.get_record("patients", rec1.id).await.unwrap();
    assert_eq!(
        got.data["full_name"], NAME,
        "the canary was stored and reads back"
    );
    assert_eq!(got.data["ssn"], SSN);
    assert_eq!(got.data["note"], NOTE);
    assert_eq!(got.data["birth_date"], DOB);
    assert_eq!(
        Value::Object(c.get_record("patients", rec2.id).await.unwrap().data),
        second
    );
    let ids =
        |l: phivault_client::api::RecordList| l.items.iter().map(|r| r.id).collect::<Vec<_>>();
    let hits = c
        .search("patients", "full_name", json!(NAME.to_lowercase()))
        .await
        .unwrap();
    assert_eq!(ids(hits), [rec1.id]);
    let hits = c.search("patients", "ssn", json!(SSN)).await.unwrap();
    assert_eq!(ids(hits), [rec1.id]);
    let hits = c
        .search("patients", "full_name", json!(" canary spaced PERSON-qv5 "))
        .await
        .unwrap();
    assert_eq!(ids(hits), [rec2.id]);
    let listed = c
        .list_subject_records("subj-0001", None, None)
        .await
        .unwrap();
    assert_eq!(listed.items[0].data["full_name"], NAME);

    let size_written = assert_store_clean(&dir, &secrets, "after the first writes");
    assert!(
        size_written > size_before,
        "the database did not grow: {size_before} -> {size_written}"
    );

    // Update with other canaries; the history keeps the old ones, the index follows.
    let updated = json!({"full_name": NAME2, "ssn": SSN2, "birth_date": DOB2, "note": NOTE2});
    let rec1v2 = c
        .update_record("patients", rec1.id, 1, updated.clone())
        .await
        .unwrap();
    assert_eq!(rec1v2.version, 2);
    assert_eq!(
        Value::Object(c.get_record("patients", rec1.id).await.unwrap().data),
        updated
    );
    let history = c.history("patients", rec1.id).await.unwrap();
    assert_eq!(history.items.len(), 2);
    assert_eq!(history.items[0].data["full_name"], NAME);
    assert!(
        c.search("patients", "full_name", json!(NAME))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let hits = c.search("patients", "ssn", json!(SSN2)).await.unwrap();
    assert_eq!(ids(hits), [rec1.id]);
    let stale = c
        .update_record("patients", rec1.id, 1, json!({"full_name": NAME}))
        .await;
    assert_eq!(status_of(stale), 412);

    // Bad requests carrying canaries: every one is refused with a problem document.
    let http = https_client(&fs::read(dir.join("tls/cert.pem")).unwrap());
    let base = server.url();
    let records = format!("{base}/v1/collections/patients/records");
    let rec1_url = format!("{records}/{}", rec1.id);
    let search = format!("{base}/v1/collections/patients/search");
    let post = |want, url: &str| Bad::new(want, Method::POST, url, &app);
    let put = |want| Bad::new(want, Method::PUT, &rec1_url, &app).header("if-match", "\"2\"");
    let get = |want, url: &str| Bad::new(want, Method::GET, url, &app);
    let cases = [
        // Wrong types and formats.
        post(422, &records).json(json!({"subject": "subj-0003",
            "data": {"full_name": NAME, "birth_date": BAD_TYPE}})),
        post(422, &records).json(json!({"subject": "subj-0003",
            "data": {"full_name": NAME, "visits": BAD_TYPE}})),
        post(422, &records).json(json!({"subject": "subj-0003",
            "data": {"full_name": [NAME, SSN]}})),
        // An undeclared field named after a canary.
        post(422, &records).json(json!({"subject": "subj-0003",
            "data": {"full_name": NAME, BAD_FIELD: BAD_FIELD_VALUE}})),
        // Malformed JSON, wrong envelopes, a wrong media type.
        post(400, &records).body(
            "application/json",
            format!(
                r#"{{"subject": "subj-0003", "data": {{"full_name": "{BAD_JSON}", "ssn": '{SSN}'"#
            ),
        ),
        post(400, &records).json(json!({"subject": "subj-0003",
            "data": {"full_name": NAME}, BAD_FIELD: BAD_JSON})),
        post(400, &records).json(json!([BAD_JSON])),
        post(415, &records).body("text/plain", format!("full_name={BAD_JSON}&ssn={SSN}")),
        // A subject id that is not an opaque id.
        post(400, &records).json(json!({"subject": BAD_SUBJECT, "data": {"full_name": NAME}})),
        // Updates with bad data.
        put(422).json(json!({"data": {"full_name": NAME2, "visits": BAD_TYPE}})),
        put(400).body(
            "application/json",
            format!(r#"{{"data": {{"full_name": "{BAD_JSON}"}}"#),
        ),
        // Searches on a field that is not searchable or not declared, or for a non-string.
        post(0, &search).json(json!({"field": "note", "value": BAD_SEARCH})),
        post(0, &search).json(json!({"field": BAD_FIELD, "value": BAD_SEARCH})),
        post(0, &search).json(json!({"field": "full_name", "value": {"nested": BAD_SEARCH}})),
        // A collection whose name breaks the rules (declared by the administrator).
        Bad::new(0, Method::POST, &format!("{base}/v1/collections"), &admin).json(
            json!({"name": BAD_COLLECTION,
            "fields": [{"name": "full_name", "type": "string",
                        "sensitivity": {"class": "phi", "identifier": "name"}}]}),
        ),
        // Bogus tokens, a bogus purpose of use, bogus ids in the path.
        Bad::new(401, Method::GET, &rec1_url, BAD_TOKEN),
        Bad::new(401, Method::GET, &rec1_url, &format!("pvt_{BAD_TOKEN}")),
        get(400, &rec1_url).purpose(BAD_PURPOSE),
        // No purpose of use at all, and a token whose roles reach no record.
        post(400, &records)
            .no_purpose()
            .json(json!({"subject": "subj-0003", "data": {"full_name": NAME, "ssn": SSN}})),
        get(400, &rec1_url).no_purpose(),
        Bad::new(403, Method::POST, &records, &admin)
            .json(json!({"subject": "subj-0003", "data": {"full_name": NAME, "ssn": SSN}})),
        Bad::new(403, Method::GET, &rec1_url, &admin),
        Bad::new(403, Method::POST, &search, &admin)
            .json(json!({"field": "full_name", "value": NAME2})),
        get(400, &format!("{records}/{BAD_PATH}")),
        get(0, &format!("{base}/v1/collections/{BAD_PATH}")),
        get(
            0,
            &format!(
                "{base}/v1/subjects/{}/records",
                BAD_SUBJECT.replace(' ', "%20")
            ),
        ),
    ];
    let mut error_bodies = Vec::new();
    for case in cases {
        let (what, _, bytes) = case.send(&http).await;
        error_bodies.push((what, bytes));
    }
    // Plaintext bytes on the TLS port (logged at debug level as a failed handshake).
    plain_http_gets_no_http_response(server.addr(), &format!("/{PLAINTEXT}")).await;

    // The refused requests stored nothing: the record is unchanged and nothing was created.
    assert_eq!(
        Value::Object(c.get_record("patients", rec1.id).await.unwrap().data),
        updated
    );
    let all = c
        .list_subject_records("subj-0003", None, None)
        .await
        .unwrap();
    assert!(all.items.is_empty());
    assert_eq!(c.list_collections().await.unwrap().items.len(), 1);

    for (what, body) in &error_bodies {
        assert_no_canary(&format!("the error body of {what}"), body, &secrets);
    }
    // Scan the store while the server runs (the WAL may hold the latest pages).
    assert_store_clean(&dir, &secrets, "while serving");

    // The metrics endpoint counts what happened and carries nothing else.
    let metrics = http
        .get(format!("{}/metrics", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let metrics = metrics.text().await.unwrap();
    for class in ["2xx", "4xx"] {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "phivault_http_responses_total{{class=\"{class}\"}}"
                ))
            })
            .unwrap_or_else(|| panic!("no {class} count in {metrics}"));
        let n: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(n >= 5.0, "{line}");
    }
    assert_no_canary("the metrics", metrics.as_bytes(), &secrets);

    let status = server.terminate().await;
    assert!(status.success(), "{status}");
    let log = fs::read(&server_log_paths(&logs)[0]).unwrap();
    let log_err = fs::read(&server_log_paths(&logs)[1]).unwrap();
    let log_all = [log, log_err].concat();
    let log_text = String::from_utf8_lossy(&log_all);
    // The log was really captured, at debug level, through the whole run.
    assert!(log_text.contains("request finished"), "{log_text}");
    assert!(
        log_text.contains("DEBUG"),
        "no debug lines were logged:\n{log_text}"
    );
    assert!(log_text.contains("phivault stopped"), "{log_text}");
    // Written to a file, log lines carry no terminal colour codes.
    assert!(
        !log_all.contains(&0x1b),
        "escape codes in the log file:\n{log_text}"
    );
    assert_no_canary("the server log", &log_all, &secrets);
    let size_after = assert_store_clean(&dir, &secrets, "after shutdown");
    assert!(size_after > size_before);
    assert_success(&run(&dir, &["audit", "verify"]));
}

fn server_log_paths(logs: &Path) -> [PathBuf; 2] {
    [logs.join("canary.stdout"), logs.join("canary.stderr")]
}
