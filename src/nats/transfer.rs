//! Workspaces travel with the run: the board packs what its agents may read (the documents
//! of a docs run; the visible files of a repository, `.gitignore` applied, the same files
//! the tools show) into a gzipped tarball in the JetStream object store, and a worker (or a
//! board resuming on another machine) unpacks it into a directory of its own. No shared
//! filesystem is needed, and document ids and file paths come out exactly as the board
//! names them, so evidence cites the same sources everywhere.
//!
//! Everything a peer sends is bounded on the way in: total size, file count, path length;
//! only plain files and directories, only relative paths that stay inside the target.

use super::names::{RunNames, WORKSPACE_BUCKET};
use crate::event::Mode;
use async_nats::jetstream::{self, object_store};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// The most a workspace may hold (uncompressed), and the most files.
pub const MAX_BYTES: u64 = 2 * 1024 * 1024 * 1024;
pub const MAX_FILES: usize = 200_000;
/// The longest path inside a bundle.
const MAX_PATH: usize = 1024;
/// The bundle's table of contents.
const MANIFEST: &str = "delm-workspace.json";

/// What the bundle holds and where, relative to where it is unpacked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Manifest {
    Repo { root: String },
    Docs { roots: Vec<String> },
}

/// Pack the workspace of `mode` into a tarball at `out`; `false` when the mode has no
/// files (a plain question).
pub fn pack(mode: &Mode, out: &Path) -> Result<bool, String> {
    let (manifest, files) = match mode {
        Mode::Plain => return Ok(false),
        Mode::Repo { root } => repo_files(root)?,
        Mode::Docs { roots } => doc_files(roots)?,
    };
    if files.len() > MAX_FILES {
        return Err(format!(
            "the workspace has {} files; a board sends at most {MAX_FILES} to its workers",
            files.len()
        ));
    }
    let total: u64 = files
        .iter()
        .map(|(_, p)| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    if total > MAX_BYTES {
        return Err(format!(
            "the workspace holds {} MB; a board sends at most {} MB to its workers",
            total >> 20,
            MAX_BYTES >> 20
        ));
    }
    let file = std::fs::File::create(out)
        .map_err(|e| format!("cannot write the workspace bundle {}: {e}", out.display()))?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(true);
    let manifest = serde_json::to_vec(&manifest).expect("serializable");
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    let io = |e: std::io::Error| format!("cannot pack the workspace: {e}");
    tar.append_data(&mut header, MANIFEST, manifest.as_slice())
        .map_err(io)?;
    for (name, path) in &files {
        tar.append_path_with_name(path, name)
            .map_err(|e| format!("cannot pack {} into the workspace: {e}", path.display()))?;
    }
    tar.into_inner().and_then(|gz| gz.finish()).map_err(io)?;
    Ok(true)
}

type Files = Vec<(String, PathBuf)>;

/// A repository's visible files under `repo/<its name>/`.
fn repo_files(root: &str) -> Result<(Manifest, Files), String> {
    let ws = crate::engine::tools::repo::RepoWorkspace::open(root)?;
    let name = ws
        .root()
        .file_name()
        .map_or_else(|| "repo".to_string(), |n| n.to_string_lossy().into_owned());
    let base = format!("repo/{name}");
    let files = ws
        .files()
        .map(|rel| (format!("{base}/{rel}"), ws.root().join(rel)))
        .filter(|(_, p)| p.is_file())
        .collect();
    Ok((Manifest::Repo { root: base }, files))
}

/// Each document root under `docs/<i>/<its name>`, so the worker opens roots with the same
/// names as the board's and its documents get the same ids.
fn doc_files(roots: &[String]) -> Result<(Manifest, Files), String> {
    let mut files = Vec::new();
    let mut bases = Vec::new();
    for (i, root) in roots.iter().enumerate() {
        let path = Path::new(root);
        let name = std::fs::canonicalize(path)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| format!("docs{i}"));
        let base = format!("docs/{i}/{name}");
        if path.is_file() {
            files.push((base.clone(), path.to_path_buf()));
        } else {
            // The same walk as the documents workspace, so the same documents travel.
            let walked = crate::engine::tools::docs::walk_dir(path, |e| {
                tracing::warn!("packing the documents: {e}")
            });
            for (rel, full) in walked {
                files.push((format!("{base}/{rel}"), full));
            }
        }
        bases.push(base);
    }
    Ok((Manifest::Docs { roots: bases }, files))
}

/// Unpack a bundle into `dest` (created if missing); the mode to open it with.
pub fn unpack(bundle: &Path, dest: &Path) -> Result<Mode, String> {
    let file = std::fs::File::open(bundle)
        .map_err(|e| format!("cannot open the workspace bundle: {e}"))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    std::fs::create_dir_all(dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
    let bad = |why: String| Err(format!("the workspace bundle is not valid: {why}"));
    let mut manifest = None;
    let (mut count, mut total) = (0usize, 0u64);
    let entries = archive
        .entries()
        .map_err(|e| format!("cannot read the workspace bundle: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("cannot read the workspace bundle: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("a path in the workspace bundle is not valid: {e}"))?
            .into_owned();
        let text = path.to_string_lossy().into_owned();
        if text.len() > MAX_PATH
            || path.is_absolute()
            || !path.components().all(|c| matches!(c, Component::Normal(_)))
        {
            return bad(format!(
                "`{}` leaves the workspace",
                crate::text::clip(&text, 200)
            ));
        }
        count += 1;
        total += entry.size();
        if count > MAX_FILES + 1 || total > MAX_BYTES {
            return bad(format!(
                "it holds more than {MAX_FILES} files or {} MB",
                MAX_BYTES >> 20
            ));
        }
        if text == MANIFEST {
            let mut bytes = Vec::new();
            entry
                .by_ref()
                .take(64 * 1024)
                .read_to_end(&mut bytes)
                .map_err(|e| format!("cannot read the workspace bundle: {e}"))?;
            manifest = Some(
                serde_json::from_slice::<Manifest>(&bytes)
                    .map_err(|e| format!("the workspace bundle's manifest is not valid: {e}"))?,
            );
            continue;
        }
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            tar::EntryType::Directory => continue,
            other => return bad(format!("`{text}` is a {other:?}, not a plain file")),
        }
        let target = dest.join(&path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        entry
            .unpack(&target)
            .map_err(|e| format!("cannot unpack {}: {e}", target.display()))?;
    }
    let inside = |rel: &str| -> Result<String, String> {
        let p = Path::new(rel);
        if p.is_absolute() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(format!("the workspace bundle names `{rel}` outside itself"));
        }
        let full = dest.join(p);
        // A root with no files left (an empty repository) is still a directory.
        if !full.exists() {
            std::fs::create_dir_all(&full)
                .map_err(|e| format!("cannot create {}: {e}", full.display()))?;
        }
        Ok(full.to_string_lossy().into_owned())
    };
    match manifest {
        Some(Manifest::Repo { root }) => Ok(Mode::Repo {
            root: inside(&root)?,
        }),
        Some(Manifest::Docs { roots }) => Ok(Mode::Docs {
            roots: roots.iter().map(|r| inside(r)).collect::<Result<_, _>>()?,
        }),
        None => bad("it has no manifest".into()),
    }
}

async fn store(js: &jetstream::Context) -> Result<object_store::ObjectStore, String> {
    if let Ok(store) = js.get_object_store(WORKSPACE_BUCKET).await {
        return Ok(store);
    }
    js.create_object_store(object_store::Config {
        bucket: WORKSPACE_BUCKET.to_string(),
        description: Some("delm: the workspace of each run".into()),
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|e| format!("cannot create the {WORKSPACE_BUCKET} object store: {e}"))
}

/// Put the run's workspace into the object store (nothing for a plain question).
pub async fn upload(js: &jetstream::Context, names: &RunNames, mode: &Mode) -> Result<(), String> {
    let path = std::env::temp_dir().join(format!(
        "delm-workspace-{}-{}.tar.gz",
        names.run,
        std::process::id()
    ));
    let packed = {
        let (mode, path) = (mode.clone(), path.clone());
        tokio::task::spawn_blocking(move || pack(&mode, &path))
            .await
            .map_err(|e| format!("packing the workspace failed: {e}"))??
    };
    if !packed {
        return Ok(());
    }
    let result = async {
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| format!("cannot read the workspace bundle: {e}"))?;
        store(js)
            .await?
            .put(names.workspace_object().as_str(), &mut file)
            .await
            .map_err(|e| format!("cannot store the workspace for the workers: {e}"))?;
        Ok(())
    }
    .await;
    let _ = std::fs::remove_file(&path);
    result
}

/// Fetch the run's workspace and unpack it into `dest`: the mode to open it with.
pub async fn download(
    js: &jetstream::Context,
    names: &RunNames,
    dest: &Path,
) -> Result<Mode, String> {
    use tokio::io::AsyncReadExt;
    let mut object = store(js)
        .await?
        .get(names.workspace_object())
        .await
        .map_err(|e| format!("the run's workspace is not in the object store: {e}"))?;
    std::fs::create_dir_all(dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
    let path = dest.join(".delm-workspace.tar.gz");
    let mut file = tokio::fs::File::create(&path)
        .await
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = object
            .read(&mut buf)
            .await
            .map_err(|e| format!("cannot fetch the run's workspace: {e}"))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > MAX_BYTES {
            return Err(format!(
                "the run's workspace is larger than {} MB",
                MAX_BYTES >> 20
            ));
        }
        file.write_all(&buf[..n])
            .await
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    file.flush().await.map_err(|e| e.to_string())?;
    drop(file);
    let dest = dest.to_path_buf();
    let mode = tokio::task::spawn_blocking(move || {
        let mode = unpack(&path, &dest);
        let _ = std::fs::remove_file(&path);
        mode
    })
    .await
    .map_err(|e| format!("unpacking the workspace failed: {e}"))??;
    Ok(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> String {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(rel)
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn documents_unpack_under_the_same_ids() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path();
        let bundle = tmp.join("b.tar.gz");
        let roots = vec![
            fixture("tests/fixtures/docs/acme"),
            fixture("tests/fixtures/docs/notes/analyst_call.txt"),
        ];
        assert!(
            pack(
                &Mode::Docs {
                    roots: roots.clone()
                },
                &bundle
            )
            .unwrap()
        );
        let Mode::Docs { roots: local } = unpack(&bundle, &tmp.join("out")).unwrap() else {
            panic!("a docs bundle opens as documents")
        };
        let ids = |roots: &[String]| {
            let ws = crate::engine::tools::docs::DocsWorkspace::open(roots).unwrap();
            let mut ids: Vec<String> = ws.doc_ids().into_iter().map(str::to_string).collect();
            ids.sort();
            ids
        };
        assert_eq!(ids(&local), ids(&roots));

        let repo = Mode::Repo {
            root: fixture("tests/fixtures/repo"),
        };
        assert!(pack(&repo, &bundle).unwrap());
        let Mode::Repo { root } = unpack(&bundle, &tmp.join("repo-out")).unwrap() else {
            panic!()
        };
        let files = |root: &str| {
            let ws = crate::engine::tools::repo::RepoWorkspace::open(root).unwrap();
            ws.files().map(str::to_string).collect::<Vec<_>>()
        };
        assert_eq!(files(&root), files(&fixture("tests/fixtures/repo")));
        assert!(!pack(&Mode::Plain, &bundle).unwrap());
    }

    #[test]
    fn a_bundle_that_leaves_its_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path();
        let bundle = tmp.join("evil.tar.gz");
        let file = std::fs::File::create(&bundle).unwrap();
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::fast(),
        ));
        let mut header = tar::Header::new_gnu();
        let data = b"owned";
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        // `append_data` refuses `..`; write the raw name as a hostile peer would.
        header.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
        header.set_cksum();
        tar.append(&header, data.as_slice()).unwrap();
        tar.into_inner().unwrap().finish().unwrap();
        let err = unpack(&bundle, &tmp.join("out")).unwrap_err();
        assert!(err.contains("leaves the workspace"), "{err}");
        assert!(!tmp.join("escape").exists());
    }
}
