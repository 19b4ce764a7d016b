//! Signed bundles: signing and verifying, every kind of tamper, key files, packing, and loading
//! a bundle that decides as its directory does.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::io::Read;
use std::path::{Path, PathBuf};

use ed25519_dalek::Signer;
use probity::{Action, Engine, History, PolicySet};
use probity_audit::bundle::{self, BundleError};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cn() -> PathBuf {
    repo().join("policies/cn")
}

/// A key pair and a bundle of `policies/cn` in a fresh directory.
struct Signed {
    dir: tempfile::TempDir,
}

impl Signed {
    fn new() -> Signed {
        Signed::of(&cn())
    }

    fn of(policies: &Path) -> Signed {
        let dir = tempfile::tempdir().unwrap();
        bundle::keygen(&dir.path().join("key")).unwrap();
        bundle::pack(policies, &dir.path().join("b.bundle"), &dir.path().join("key")).unwrap();
        Signed { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn bundle(&self) -> PathBuf {
        self.path("b.bundle")
    }

    fn trust(&self) -> PathBuf {
        self.path("key.pub")
    }

    /// The bundle's tar members, changed by `f`, packed again as `tampered.bundle`.
    fn tamper(&self, f: impl FnOnce(&mut Vec<(String, Vec<u8>)>)) -> PathBuf {
        let mut members = members(&self.bundle());
        f(&mut members);
        let out = self.path("tampered.bundle");
        std::fs::write(&out, pack_members(&members)).unwrap();
        out
    }

    fn verify(&self, file: &Path) -> Result<bundle::Verified, BundleError> {
        bundle::verify(file, &self.trust())
    }
}

fn members(path: &Path) -> Vec<(String, Vec<u8>)> {
    let raw = std::fs::read(path).unwrap();
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(raw.as_slice()).read_to_end(&mut tar).unwrap();
    let mut archive = tar::Archive::new(tar.as_slice());
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_str().unwrap().to_string();
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            (name, bytes)
        })
        .collect()
}

fn pack_members(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, bytes) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        // The name written as it is (the tar crate refuses `..`, which a tamperer need not).
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_cksum();
        tar.append(&header, bytes.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

fn member<'a>(members: &'a mut [(String, Vec<u8>)], name: &str) -> &'a mut Vec<u8> {
    &mut members.iter_mut().find(|(n, _)| n == name).unwrap().1
}

/// A new manifest for `members`' files, signed with the private key file `key`.
fn resign(members: &mut [(String, Vec<u8>)], key: &Path) {
    use sha2::Digest;
    let files: Vec<serde_json::Value> = members
        .iter()
        .filter_map(|(n, b)| n.strip_prefix("files/").map(|p| (p, b)))
        .map(|(p, b)| serde_json::json!({"path": p, "sha256": format!("{:x}", sha2::Sha256::digest(b))}))
        .collect();
    let mut manifest = serde_json::to_vec(&serde_json::json!({"format": bundle::FORMAT, "files": files})).unwrap();
    manifest.push(b'\n');
    let signature = bundle::read_signing_key(key).unwrap().sign(&manifest);
    let hex: String = signature.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    *member(members, "MANIFEST.json") = manifest;
    *member(members, "MANIFEST.sig") = format!("{hex}\n").into_bytes();
}

#[test]
fn a_signed_bundle_verifies_and_is_reproducible() {
    let signed = Signed::new();
    let verified = signed.verify(&signed.bundle()).unwrap();
    let paths: Vec<&str> = verified.files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "README.md",
            "calendars/cn-2026.txt",
            "cn_new_rules.yaml",
            "cn_wealth_sales.yaml",
            "cn_wealth_sales_2025.yaml",
            "cn_wealth_sales_2025_10.yaml",
            "wealth_sales_2025.probity",
            "wealth_sales_2025_10.probity",
            "wealth_sales_2026.probity"
        ]
    );
    assert!(verified.manifest_digest.starts_with("sha256:") && verified.manifest_digest.len() == 71);
    // The same directory and key give the same bytes.
    let again = signed.path("again.bundle");
    bundle::pack(&cn(), &again, &signed.path("key")).unwrap();
    assert_eq!(std::fs::read(&again).unwrap(), std::fs::read(signed.bundle()).unwrap());
    // The members are in the documented order, the files under `files/`.
    let names: Vec<String> = members(&signed.bundle()).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names[..2], ["MANIFEST.json", "MANIFEST.sig"]);
    assert!(names[2..].iter().all(|n| n.starts_with("files/")));
}

#[test]
fn a_bundle_decides_as_its_directory_byte_for_byte() {
    let signed = Signed::new();
    let from_bundle = Engine::new(bundle::load_bundle(&signed.bundle(), &signed.trust()).unwrap());
    let from_dir = Engine::new(PolicySet::from_dir(cn()).unwrap());
    assert!(from_bundle.policy_set().digests().eq(from_dir.policy_set().digests()));
    let action = Action::from_json(&std::fs::read_to_string(repo().join("examples/action.json")).unwrap()).unwrap();
    let history = History::new();
    let a = from_bundle.evaluate(&action, &history).unwrap().to_json();
    let b = from_dir.evaluate(&action, &history).unwrap().to_json();
    assert_eq!(a, b);
    assert!(a.contains("\"verdict\":\"deny\""), "{a}");
}

/// A directory whose policy reads a list file in a subdirectory.
fn with_list(dir: &Path, list: &str) -> PathBuf {
    let policies = dir.join("policies");
    std::fs::create_dir_all(policies.join("lists")).unwrap();
    std::fs::write(
        policies.join("p.probity"),
        "policy p version \"1\" effective 2026-01-01\naction pa_deal { security: text }\n\
         list restricted from \"lists/restricted.txt\"\n\
         rule r on pa_deal when action.security in restricted then deny\n",
    )
    .unwrap();
    std::fs::write(policies.join("lists/restricted.txt"), list).unwrap();
    policies
}

#[test]
fn lists_load_from_the_bundle_not_the_file_system() {
    let tmp = tempfile::tempdir().unwrap();
    let policies = with_list(tmp.path(), "XYZ\n");
    let signed = Signed::of(&policies);
    // The directory's list changes after bundling: the bundle keeps the signed one.
    std::fs::write(policies.join("lists/restricted.txt"), "ABC\n").unwrap();
    let engine = Engine::new(bundle::load_bundle(&signed.bundle(), &signed.trust()).unwrap());
    let action = Action::from_json(
        r#"{"type":"pa_deal","id":"A1","at":"2026-03-01T10:00:00+00:00","rm":{"id":"R1"},"security":"XYZ"}"#,
    )
    .unwrap();
    let decision = engine.evaluate(&action, &History::new()).unwrap();
    assert_eq!(decision.verdict, probity::Verdict::Deny);
}

#[test]
fn another_key_is_refused() {
    let signed = Signed::new();
    bundle::keygen(&signed.path("other")).unwrap();
    let e = bundle::verify(&signed.bundle(), &signed.path("other.pub")).unwrap_err();
    assert_eq!(e.code(), "B0002", "{e}");
    assert!(e.to_string().contains("other.pub"), "{e}");
    // Nor does loading succeed.
    assert_eq!(bundle::load_bundle(&signed.bundle(), &signed.path("other.pub")).unwrap_err().code(), "B0002");
}

#[test]
fn a_changed_policy_byte_names_the_file() {
    let signed = Signed::new();
    let bad = signed.tamper(|m| {
        let file = member(m, "files/wealth_sales_2026.probity");
        let i = file.windows(9).position(|w| w == b"cash_gift").unwrap();
        file[i] = b'C';
    });
    let e = signed.verify(&bad).unwrap_err();
    assert_eq!(e.code(), "B0003");
    assert!(matches!(&e, BundleError::Changed { file, .. } if file == "wealth_sales_2026.probity"), "{e}");
}

#[test]
fn an_edited_manifest_or_signature_is_a_bad_signature() {
    let signed = Signed::new();
    let bad = signed.tamper(|m| {
        let manifest = member(m, "MANIFEST.json");
        let i = manifest.iter().position(|&b| b == b'a').unwrap();
        manifest[i] = b'b';
    });
    assert_eq!(signed.verify(&bad).unwrap_err().code(), "B0002");
    let bad = signed.tamper(|m| {
        let sig = member(m, "MANIFEST.sig");
        sig[0] = if sig[0] == b'0' { b'1' } else { b'0' };
    });
    assert_eq!(signed.verify(&bad).unwrap_err().code(), "B0002");
    let bad = signed.tamper(|m| *member(m, "MANIFEST.sig") = b"not hex\n".to_vec());
    let e = signed.verify(&bad).unwrap_err();
    assert_eq!(e.code(), "B0002");
    assert!(e.to_string().contains("128 hex digits"), "{e}");
}

#[test]
fn a_file_added_or_removed_is_named() {
    let signed = Signed::new();
    let bad = signed.tamper(|m| m.push(("files/extra.probity".into(), b"policy x\n".to_vec())));
    let e = signed.verify(&bad).unwrap_err();
    assert!(matches!(&e, BundleError::Added { file } if file == "extra.probity"), "{e}");
    assert_eq!(e.code(), "B0005");
    let bad = signed.tamper(|m| m.retain(|(n, _)| n != "files/wealth_sales_2025.probity"));
    let e = signed.verify(&bad).unwrap_err();
    assert!(matches!(&e, BundleError::Missing { file } if file == "wealth_sales_2025.probity"), "{e}");
    assert_eq!(e.code(), "B0004");
}

#[test]
fn what_is_not_a_bundle() {
    let signed = Signed::new();
    let not = |bytes: Vec<u8>| {
        let path = signed.path("not.bundle");
        std::fs::write(&path, bytes).unwrap();
        let e = signed.verify(&path).unwrap_err();
        assert_eq!(e.code(), "B0001", "{e}");
        e.to_string()
    };
    assert!(not(b"policy p version \"1\"".to_vec()).contains("not gzip"));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &[7u8; 1000]).unwrap();
    not(gz.finish().unwrap());
    assert!(not(pack_members(&[("files/a.probity".into(), vec![])])).contains("no `MANIFEST.json`"));
    let mut m = members(&signed.bundle());
    m.push(("../escape".into(), vec![]));
    assert!(not(pack_members(&m)).contains("not a plain relative path"));
    let mut m = members(&signed.bundle());
    m.push(("elsewhere.txt".into(), vec![]));
    assert!(not(pack_members(&m)).contains("unexpected member"));
    let mut m = members(&signed.bundle());
    let copy = m[2].clone();
    m.push(copy);
    assert!(not(pack_members(&m)).contains("twice"));
    // Missing altogether: an I/O error.
    assert_eq!(signed.verify(&signed.path("absent.bundle")).unwrap_err().code(), "B0009");
}

#[test]
fn key_files_of_the_wrong_kind_are_bad_keys() {
    let signed = Signed::new();
    let e = bundle::verify(&signed.bundle(), &signed.path("key")).unwrap_err();
    assert_eq!(e.code(), "B0006");
    assert!(e.to_string().contains("private key: trust its `.pub`"), "{e}");
    let e = bundle::pack(&cn(), &signed.path("x.bundle"), &signed.trust()).unwrap_err();
    assert_eq!(e.code(), "B0006");
    assert!(e.to_string().contains("this is a public key"), "{e}");
    std::fs::write(signed.path("junk.pub"), "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").unwrap();
    assert_eq!(bundle::verify(&signed.bundle(), &signed.path("junk.pub")).unwrap_err().code(), "B0006");
    std::fs::write(signed.path("binary.pub"), [0xff, 0xfe, 0x00]).unwrap();
    assert_eq!(bundle::verify(&signed.bundle(), &signed.path("binary.pub")).unwrap_err().code(), "B0006");
}

#[test]
fn keygen_refuses_to_overwrite_and_keeps_the_private_key_private() {
    let signed = Signed::new();
    let before = std::fs::read(signed.path("key")).unwrap();
    let e = bundle::keygen(&signed.path("key")).unwrap_err();
    assert_eq!(e.code(), "B0009");
    assert_eq!(std::fs::read(signed.path("key")).unwrap(), before);
    // A public key alone in the way also stops it, before the private key is written.
    std::fs::write(signed.path("fresh.pub"), "x").unwrap();
    assert_eq!(bundle::keygen(&signed.path("fresh")).unwrap_err().code(), "B0009");
    assert!(!signed.path("fresh").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(signed.path("key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    assert!(String::from_utf8(before).unwrap().starts_with("-----BEGIN PRIVATE KEY-----"));
    let public = std::fs::read_to_string(signed.trust()).unwrap();
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"), "{public}");
}

#[test]
fn directories_that_cannot_be_bundled() {
    let signed = Signed::new();
    let tmp = tempfile::tempdir().unwrap();
    let key = signed.path("key");
    // No policy file.
    let e = bundle::pack(tmp.path(), &tmp.path().join("b"), &key).unwrap_err();
    assert_eq!(e.code(), "B0007", "{e}");
    // Policies that do not load.
    let bad = tmp.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join("p.probity"), "policy").unwrap();
    let e = bundle::pack(&bad, &tmp.path().join("b"), &key).unwrap_err();
    assert_eq!(e.code(), "B0007");
    assert!(e.to_string().contains("do not load"), "{e}");
    // A list outside the directory.
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(outside.join("policies")).unwrap();
    std::fs::write(outside.join("restricted.txt"), "XYZ\n").unwrap();
    std::fs::write(
        outside.join("policies/p.probity"),
        "policy p version \"1\" effective 2026-01-01\naction pa_deal { security: text }\n\
         list restricted from \"../restricted.txt\"\n\
         rule r on pa_deal when action.security in restricted then deny\n",
    )
    .unwrap();
    let e = bundle::pack(&outside.join("policies"), &tmp.path().join("b"), &key).unwrap_err();
    assert_eq!(e.code(), "B0007");
    assert!(e.to_string().contains("outside"), "{e}");
    assert!(!tmp.path().join("b").exists());
}

#[test]
fn a_signed_bundle_whose_policies_do_not_load() {
    let signed = Signed::new();
    let bad = signed.tamper(|m| {
        *member(m, "files/wealth_sales_2026.probity") = b"policy broken".to_vec();
        resign(m, &signed.path("key"));
    });
    let verified = signed.verify(&bad).unwrap();
    let e = verified.load().unwrap_err();
    assert_eq!(e.code(), "B0008", "{e}");
    // Re-signed with the trusted key, a change verifies: the signature is what is trusted.
    let other = signed.tamper(|m| {
        m.retain(|(n, _)| n != "files/cn_wealth_sales.yaml");
        resign(m, &signed.path("key"));
    });
    assert_eq!(signed.verify(&other).unwrap().files.len(), 8);
}

#[test]
fn every_code_is_distinct_and_has_a_hint() {
    let io = || std::io::Error::other("x");
    let p = PathBuf::from("f");
    let errors = [
        BundleError::NotABundle { path: p.clone(), reason: String::new() },
        BundleError::BadSignature { path: p.clone(), key: p.clone(), reason: String::new() },
        BundleError::Changed { file: "a".into(), expected: "1".into(), found: "2".into() },
        BundleError::Missing { file: "a".into() },
        BundleError::Added { file: "a".into() },
        BundleError::BadKey { path: p.clone(), kind: "public", reason: String::new() },
        BundleError::Pack { dir: p.clone(), reason: String::new() },
        BundleError::Load { path: p.clone(), rendered: String::new() },
        BundleError::Io { action: "read", path: p, source: io() },
    ];
    let codes: Vec<&str> = errors.iter().map(BundleError::code).collect();
    assert_eq!(codes, ["B0001", "B0002", "B0003", "B0004", "B0005", "B0006", "B0007", "B0008", "B0009"]);
    assert!(errors.iter().all(|e| e.hint().len() > 20));
    let docs = std::fs::read_to_string(repo().join("docs/diagnostics.md")).unwrap();
    for code in codes {
        assert!(docs.contains(code), "{code} is not in docs/diagnostics.md");
    }
}
