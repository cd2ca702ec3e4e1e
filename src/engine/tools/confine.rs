//! Keeping every path a tool touches inside the workspace root.
//!
//! A requested path is first normalised lexically (absolute paths and `..` that would climb
//! above the root are refused before the file system is touched), then canonicalised, which
//! follows symbolic links, and the result must still lie under the canonical root. Error
//! texts go back to the model, so they say what to do instead.

use std::path::{Component, Path, PathBuf};

/// A requested path longer than this is refused before anything else (and never echoed
/// back in full).
const MAX_PATH_BYTES: usize = 1024;

/// A path that passed confinement.
#[derive(Debug, Clone)]
pub(crate) struct Confined {
    /// Normalised path relative to the root, `/`-separated; empty for the root itself.
    pub rel: String,
    /// Canonical absolute path (symbolic links resolved), inside the root.
    pub abs: PathBuf,
}

/// The root directory of a workspace, canonicalised once.
#[derive(Debug, Clone)]
pub(crate) struct Root {
    canonical: PathBuf,
    /// What the workspace is, for messages ("repository", "document set").
    what: &'static str,
}

impl Root {
    /// Open a root directory; the error names the path and what was wrong with it.
    pub fn open(root: &str, what: &'static str) -> Result<Root, String> {
        let given = Path::new(root);
        let canonical = std::fs::canonicalize(given).map_err(|e| {
            format!("cannot open the {what} at `{root}`: {e}; check that the path exists")
        })?;
        if !canonical.is_dir() {
            return Err(format!(
                "the {what} path `{root}` is not a directory; pass the directory that contains it"
            ));
        }
        Ok(Root { canonical, what })
    }

    pub fn path(&self) -> &Path {
        &self.canonical
    }

    /// The root-relative, `/`-separated form of a path under the root, if it is under it.
    pub fn relative(&self, abs: &Path) -> Option<String> {
        let rel = abs.strip_prefix(&self.canonical).ok()?;
        Some(join_components(rel))
    }

    /// Lexical normalisation of a requested path: refuses absolute paths and `..` that
    /// climbs above the root. Returns the relative form (empty for the root).
    pub fn normalize(&self, requested: &str) -> Result<String, String> {
        let what = self.what;
        let trimmed = requested.trim();
        if trimmed.len() > MAX_PATH_BYTES {
            return Err(format!(
                "`{}` is not a path of the {what}: paths are at most {MAX_PATH_BYTES} bytes",
                crate::engine::point_args::clip_echo(trimmed)
            ));
        }
        let path = Path::new(trimmed);
        if path.is_absolute() {
            let hint = match self.relative(path) {
                Some(rel) if rel.is_empty() => " (use `.` for the root)".to_string(),
                Some(rel) => format!(" (use `{rel}`)"),
                None => format!(" (for example `{}`)", self.example()),
            };
            return Err(format!(
                "`{trimmed}` is an absolute path; paths are relative to the {what} root{hint}"
            ));
        }
        let mut parts: Vec<&str> = Vec::new();
        for component in path.components() {
            match component {
                Component::Normal(part) => match part.to_str() {
                    Some(s) => parts.push(s),
                    None => return Err(format!("`{trimmed}` is not valid UTF-8")),
                },
                Component::CurDir => {}
                Component::ParentDir => {
                    if parts.pop().is_none() {
                        return Err(format!(
                            "`{trimmed}` leaves the {what} root; only paths inside it can be \
                             read (for example `{}`)",
                            self.example()
                        ));
                    }
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(format!(
                        "`{trimmed}` is an absolute path; paths are relative to the {what} root"
                    ));
                }
            }
        }
        Ok(parts.join("/"))
    }

    /// Normalise, then resolve on disk: the path must exist and its canonical form
    /// (symbolic links followed) must stay inside the root.
    pub fn resolve(&self, requested: &str) -> Result<Confined, String> {
        let rel = self.normalize(requested)?;
        let joined = self.canonical.join(&rel);
        let abs = match std::fs::canonicalize(&joined) {
            Ok(abs) => abs,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // A dangling symlink also lands here; say which it is.
                if std::fs::symlink_metadata(&joined).is_ok() {
                    return Err(format!(
                        "`{rel}` is a symbolic link whose target does not exist"
                    ));
                }
                return Err(format!("`{rel}` does not exist in the {}", self.what));
            }
            Err(e) => return Err(format!("cannot open `{rel}`: {e}")),
        };
        if !abs.starts_with(&self.canonical) {
            return Err(format!(
                "`{rel}` is a symbolic link to a place outside the {} root; it cannot be \
                 read, use the files inside the root",
                self.what
            ));
        }
        Ok(Confined { rel, abs })
    }

    fn example(&self) -> &'static str {
        if self.what == "repository" {
            "src/main.rs"
        } else {
            "reports/q3.txt"
        }
    }
}

fn join_components(rel: &Path) -> String {
    rel.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/a.rs"), "fn a() {}\n").unwrap();
        let root = Root::open(dir.path().to_str().unwrap(), "repository").unwrap();
        (dir, root)
    }

    #[test]
    fn normalises_inner_parent_components() {
        let (_d, root) = root();
        assert_eq!(root.normalize("./src/../src/a.rs").unwrap(), "src/a.rs");
        assert_eq!(root.normalize(".").unwrap(), "");
        assert_eq!(root.normalize("").unwrap(), "");
    }

    #[test]
    fn refuses_climbing_out_and_absolute_paths() {
        let (_d, root) = root();
        let err = root.normalize("src/../../etc/passwd").unwrap_err();
        assert!(err.contains("leaves the repository root"), "{err}");
        let err = root.normalize("/etc/passwd").unwrap_err();
        assert!(err.contains("absolute path"), "{err}");
    }

    #[test]
    fn absolute_path_inside_root_suggests_the_relative_form() {
        let (_d, root) = root();
        let abs = root.path().join("src/a.rs");
        let err = root.normalize(abs.to_str().unwrap()).unwrap_err();
        assert!(err.contains("use `src/a.rs`"), "{err}");
    }

    #[test]
    fn huge_paths_are_refused_and_clipped() {
        let (_d, root) = root();
        let err = root.normalize(&"a/".repeat(50_000)).unwrap_err();
        assert!(
            err.len() < 400 && err.contains("at most 1024 bytes"),
            "{err}"
        );
    }

    #[test]
    fn missing_paths_are_named() {
        let (_d, root) = root();
        let err = root.resolve("src/b.rs").unwrap_err();
        assert_eq!(err, "`src/b.rs` does not exist in the repository");
    }

    #[test]
    fn open_names_a_missing_root() {
        let err = Root::open("/definitely/not/here", "repository").unwrap_err();
        assert!(err.contains("/definitely/not/here"), "{err}");
    }
}
