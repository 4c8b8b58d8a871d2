//! The journal against a real store: replay to latest and to a time, torn tails,
//! corruption, erasures after the target time, and writes by another connection.

use std::fs;

use super::read::{le_u32, parse_segment};
use super::*;
use crate::backup::read_shred_ledger;
use crate::{SqliteOptions, SqliteStore};
use phivault_core::ManualClock;
use phivault_core::backup::ShredEntry;
use phivault_core::store::{Store, SubjectKeyRow, WriteTx};
use time::OffsetDateTime;

const T0: i64 = 1_800_000_000;

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(T0 + secs).unwrap()
}

async fn write(store: &SqliteStore, f: impl FnOnce(&mut dyn WriteTx) + Send + 'static) {
    store
        .write(Box::new(move |tx| {
            f(tx);
            Ok(())
        }))
        .await
        .unwrap();
}

fn key(subject: &str) -> SubjectKeyRow {
    SubjectKeyRow {
        subject: subject.into(),
        wrapped_key: vec![7; 40],
        kek_version: 1,
        created_at: at(0),
    }
}

fn meta(db: &Path, key: &str) -> Option<String> {
    let conn = Connection::open(db).unwrap();
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .ok()
}

fn has_key(db: &Path, subject: &str) -> bool {
    let conn = Connection::open(db).unwrap();
    conn.query_row(
        "SELECT count(*) FROM subject_keys WHERE subject = ?1",
        [subject],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
        == 1
}

struct Fixture {
    dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    journal: Arc<Journal>,
    store: Option<SqliteStore>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(at(0)));
        let journal = Journal::new(JournalConfig {
            dir: dir.path().join("backups"),
            rpo: Duration::from_secs(1),
            clock: clock.clone(),
        });
        let store = SqliteStore::open_with_journal(
            &dir.path().join("v.db"),
            SqliteOptions::default(),
            journal.clone(),
        )
        .unwrap();
        Fixture {
            dir,
            clock,
            journal,
            store: Some(store),
        }
    }

    fn store(&self) -> &SqliteStore {
        self.store.as_ref().unwrap()
    }

    /// Closes the store (its writer syncs the segment).
    fn close(&mut self) {
        self.store = None;
    }

    fn base(&self) -> PathBuf {
        self.dir.path().join("base.db")
    }

    fn segment(&self) -> PathBuf {
        segment_path(&self.dir.path().join("backups"), "b1")
    }

    /// A base copy to replay onto.
    fn restore_copy(&self, name: &str) -> PathBuf {
        let to = self.dir.path().join(name);
        fs::copy(self.base(), &to).unwrap();
        to
    }
}

#[tokio::test]
async fn a_journal_replays_onto_its_base_to_the_latest_state_or_to_a_time() {
    let mut f = Fixture::new();
    write(f.store(), |tx| tx.set_meta("before", "base").unwrap()).await;
    assert!(f.journal.needs_base());
    f.journal.start_segment(&f.base(), "b1").await.unwrap();
    assert!(!f.journal.needs_base());
    assert_eq!(f.journal.segment().as_deref(), Some("b1"));

    f.clock.set(at(10));
    for i in 0..5 {
        write(f.store(), move |tx| {
            tx.set_meta(&format!("a{i}"), "A").unwrap()
        })
        .await;
    }
    f.clock.set(at(20));
    write(f.store(), |tx| {
        tx.set_meta("b0", "B").unwrap();
        tx.set_meta("before", "changed after").unwrap();
        tx.insert_subject_key(&key("s-b")).unwrap();
    })
    .await;
    // A failing closure in a batch leaves nothing in the journal.
    let failed = f
        .store()
        .write(Box::new(|tx| {
            tx.set_meta("never", "x")?;
            Err(StoreError::Unavailable("no".into()))
        }))
        .await;
    assert!(failed.is_err());
    assert_eq!(f.journal.entries(), 6);
    f.close();

    let seg = read_segment(&f.segment()).unwrap();
    assert_eq!(seg.backup_id, "b1");
    assert_eq!(seg.entries.len(), 6);
    assert_eq!(seg.torn_tail, None);
    assert_eq!(seg.last_committed_at(), Some(at(20)));

    // Up to a time between the two phases: A, and nothing of B.
    let to_t = f.restore_copy("to-t.db");
    let r = replay(&to_t, &seg, Some(at(15)), &|_, _| {}).unwrap();
    assert_eq!((r.applied, r.skipped), (5, 1));
    assert_eq!(r.recovered_to, Some(at(10)));
    assert_eq!(meta(&to_t, "a4").as_deref(), Some("A"));
    assert_eq!(meta(&to_t, "b0"), None);
    assert_eq!(meta(&to_t, "before").as_deref(), Some("base"));
    assert!(!has_key(&to_t, "s-b"));

    // Latest: the same rows as the live database.
    let latest = f.restore_copy("latest.db");
    let r = replay(&latest, &seg, None, &|_, _| {}).unwrap();
    assert_eq!(r.applied, 6);
    assert_eq!(meta(&latest, "before").as_deref(), Some("changed after"));
    assert_eq!(meta(&latest, "never"), None);
    assert!(has_key(&latest, "s-b"));
    let live = f.dir.path().join("v.db");
    assert_eq!(
        crate::backup::table_counts(&latest).unwrap(),
        crate::backup::table_counts(&live).unwrap()
    );

    // Replaying onto a state that is not the base is refused, not merged.
    let again = replay(&latest, &seg, None, &|_, _| {});
    assert!(again.unwrap_err().to_string().contains("does not apply"));
}

#[tokio::test]
async fn a_torn_final_entry_is_tolerated_and_a_flipped_byte_is_corruption() {
    let mut f = Fixture::new();
    f.journal.start_segment(&f.base(), "b1").await.unwrap();
    for i in 0..4 {
        f.clock.advance(time::Duration::seconds(1));
        write(f.store(), move |tx| {
            tx.set_meta(&format!("k{i}"), "v").unwrap()
        })
        .await;
    }
    f.close();
    let good = fs::read(f.segment()).unwrap();
    assert_eq!(parse_segment(&good).unwrap().entries.len(), 4);

    // A crash in the middle of the last append.
    let torn = &good[..good.len() - 10];
    let seg = parse_segment(torn).unwrap();
    assert_eq!(seg.entries.len(), 3);
    assert!(seg.torn_tail.is_some_and(|n| n > 0));
    // Zeros after a power loss are a torn tail too.
    let mut zeros = good.clone();
    zeros.extend_from_slice(&[0u8; 300]);
    let seg = parse_segment(&zeros).unwrap();
    assert_eq!((seg.entries.len(), seg.torn_tail), (4, Some(300)));

    // A flipped byte inside the second entry's changeset: corruption named at entry 2.
    let first = parse_segment(&good[..good.len()]).unwrap();
    let header_len = 12 + le_u32(&good[8..]) as usize;
    let second_start = header_len + 8 + (BODY_FIXED + first.entries[0].changeset.len()) + 32;
    let mut flipped = good.clone();
    flipped[second_start + 8 + BODY_FIXED + 2] ^= 0x01;
    match parse_segment(&flipped) {
        Err(JournalError::Corrupt { seq: 2, reason, .. }) => {
            assert!(reason.contains("hash mismatch"), "{reason}")
        }
        other => panic!("expected corruption at entry 2, got {other:?}"),
    }
    // A damaged length field is never mistaken for a torn tail.
    let mut length = good.clone();
    length[second_start] ^= 0x40;
    assert!(matches!(
        parse_segment(&length),
        Err(JournalError::Corrupt { seq: 2, .. })
    ));
    // A damaged header.
    let mut header = good.clone();
    header[14] ^= 0x01;
    assert!(matches!(
        parse_segment(&header),
        Err(JournalError::Header(_)) | Err(JournalError::Corrupt { seq: 1, .. })
    ));
}

#[tokio::test]
async fn erasures_after_the_target_time_are_still_listed() {
    let mut f = Fixture::new();
    write(f.store(), |tx| {
        tx.insert_subject_key(&key("s-1")).unwrap();
        tx.insert_subject_key(&key("s-2")).unwrap();
    })
    .await;
    f.journal.start_segment(&f.base(), "b1").await.unwrap();
    f.clock.set(at(30));
    write(f.store(), |tx| {
        tx.record_shred("s-1", at(30)).unwrap();
        assert!(tx.delete_subject_key("s-1").unwrap());
    })
    .await;
    f.close();
    let seg = read_segment(&f.segment()).unwrap();
    let to_t = f.restore_copy("t.db");
    replay(&to_t, &seg, Some(at(10)), &|_, _| {}).unwrap();
    // As of T the key still exists; the erasure after T is what a restore must replay.
    assert!(has_key(&to_t, "s-1"));
    assert!(read_shred_ledger(&to_t).unwrap().is_empty());
    assert_eq!(
        shred_entries(&seg).unwrap(),
        vec![ShredEntry {
            subject: "s-1".into(),
            shredded_at: at(30)
        }]
    );
}

#[tokio::test]
async fn a_write_by_another_connection_ends_the_segment() {
    let mut f = Fixture::new();
    f.journal.start_segment(&f.base(), "b1").await.unwrap();
    write(f.store(), |tx| tx.set_meta("mine", "1").unwrap()).await;
    {
        let other = Connection::open(f.dir.path().join("v.db")).unwrap();
        other.busy_timeout(Duration::from_secs(5)).unwrap();
        other
            .execute("INSERT INTO meta (key, value) VALUES ('foreign', 'x')", [])
            .unwrap();
    }
    assert!(!f.journal.needs_base());
    write(f.store(), |tx| tx.set_meta("after", "1").unwrap()).await;
    assert!(f.journal.needs_base(), "the foreign write went unnoticed");
    assert_eq!(f.journal.segment(), None);
    f.close();
    // The segment holds what came before the foreign write, and nothing after it.
    let seg = read_segment(&f.segment()).unwrap();
    assert_eq!(seg.entries.len(), 1);
}

mod properties {
    //! A journal segment comes back from a backup location someone else can write to:
    //! arbitrary bytes, and a well-formed header followed by arbitrary entries, never panic
    //! the reader; what it accepts has entries in order.
    use super::super::read::parse_segment;
    use super::super::segment::header_json;
    use super::super::{MAGIC, MAX_BODY};
    use proptest::prelude::*;

    fn with_header(tail: &[u8]) -> Vec<u8> {
        let header = header_json("b-1", 1, 1_800_000_000_000_000_000);
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(tail);
        bytes
    }

    /// An entry frame with a consistent length word, and arbitrary contents.
    fn frame() -> impl Strategy<Value = Vec<u8>> {
        (prop::collection::vec(any::<u8>(), 0..96), any::<bool>()).prop_map(|(body, honest)| {
            let len = u32::try_from(body.len()).unwrap_or(MAX_BODY);
            let mut f = len.to_le_bytes().to_vec();
            let check = if honest { !len } else { len };
            f.extend_from_slice(&check.to_le_bytes());
            f.extend_from_slice(&body);
            f.extend_from_slice(&[0u8; 32]);
            f
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic_the_reader(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_segment(&bytes);
            let _ = parse_segment(&with_header(&bytes));
        }

        #[test]
        fn arbitrary_entries_after_a_good_header_never_panic_the_reader(frames in prop::collection::vec(frame(), 0..4)) {
            let tail: Vec<u8> = frames.concat();
            if let Ok(seg) = parse_segment(&with_header(&tail)) {
                for (i, e) in seg.entries.iter().enumerate() {
                    prop_assert_eq!(e.seq, i as u64 + 1);
                }
            }
        }
    }
}
