//! A stack's workspace: its working folder under `DATA_DIR` and the compose runs
//! in it. The reconciler applies and removes through it, the planner resolves
//! the compose model through it, so both see the files the same way.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use crate::admission::policy::Policy;
use crate::admission::resolved::admit;
use crate::compose::overlay::{self, MODEL_FILE, OVERRIDE_FILE};
use crate::compose::runner::{ComposeError, ComposeRunner, Project, RunOutput};
use crate::labels::StackLabels;
use crate::redact::SecretBook;
use crate::stack::discover::COMPOSE_FILE_NAMES;
use crate::stack::{DesiredStack, StackFile};

/// Why a workspace step failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// Compose failed.
    #[error(transparent)]
    Compose(#[from] ComposeError),
    /// The folder could not be written or read.
    #[error("cannot write the stack's working folder: {0}")]
    Io(#[from] std::io::Error),
    /// `compose config` printed something that is not a compose model.
    #[error("cannot read the output of compose config: {0}")]
    Unreadable(String),
    /// The resolved model asks for what docker-cd does not allow (`admit`).
    #[error("{0}")]
    Refused(String),
}

/// Every stack's workspace, under one `DATA_DIR`.
#[derive(Clone)]
pub struct Workspaces {
    data_dir: PathBuf,
    compose: Arc<ComposeRunner>,
    policy: Arc<Policy>,
    /// Per stack, the model compose resolved from the files of one
    /// `stack_hash` and its admission: the same files again (a drift revert, the
    /// apply after a plan or a prefetch) resolve to the same model, as the
    /// environment compose interpolates from is docker-cd's own and fixed. One
    /// entry a stack; a new `stack_hash` replaces it.
    admitted: Arc<Mutex<HashMap<String, (String, Admission)>>>,
    /// Masks every error it returns: compose echoes command lines, env
    /// values and the model it refused, and its errors reach the stack's
    /// status, the history, the logs and the plan's answer.
    secrets: SecretBook,
}

/// The admission of one `stack_hash`, resolved at most once at a time: whoever
/// asks while `compose config` runs waits for its answer. It holds the admitted
/// model, or why it was refused (the same files are refused again); other
/// failures (compose did not run, rejected the files) are not kept.
type Admission = Arc<tokio::sync::OnceCell<Result<Arc<Value>, String>>>;

/// `compose config` of a stack, run in a scratch copy of its files.
pub struct ResolvedConfig {
    /// What compose printed, parsed, with paths pointing into the stack's real
    /// working folder.
    pub config: Value,
    /// The scratch copy (deleted on drop): files the config names are read from here.
    pub scratch: tempfile::TempDir,
    /// The scratch copy's stack folder inside `scratch`.
    pub scratch_dir: PathBuf,
    /// The stack's real working folder.
    pub workdir: PathBuf,
}

impl Workspaces {
    /// The `POLICY` applies are admitted under.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Workspaces under the absolute `data_dir`, run with `compose`; no stack
    /// is applied or planned beyond `policy`; errors masked with `secrets`.
    pub fn new(
        data_dir: PathBuf,
        compose: Arc<ComposeRunner>,
        policy: Policy,
        secrets: SecretBook,
    ) -> Self {
        Self {
            data_dir,
            compose,
            policy: Arc::new(policy),
            admitted: Arc::default(),
            secrets,
        }
    }

    /// `error` with the secret values of stack `name` (and of `desired`, the
    /// revision at hand, which may be a past one) masked.
    fn masked(
        &self,
        name: &str,
        desired: Option<&DesiredStack>,
        error: WorkspaceError,
    ) -> WorkspaceError {
        let secrets = match desired {
            Some(desired) => self.secrets.of_with(name, &desired.secrets),
            None => self.secrets.of(name),
        };
        let mask = |text: String| secrets.mask(&text).into_owned();
        match error {
            WorkspaceError::Compose(ComposeError::Failed {
                command,
                code,
                output,
            }) => WorkspaceError::Compose(ComposeError::Failed {
                command,
                code,
                output: mask(output),
            }),
            WorkspaceError::Unreadable(why) => WorkspaceError::Unreadable(mask(why)),
            WorkspaceError::Refused(why) => WorkspaceError::Refused(mask(why)),
            other => other,
        }
    }

    /// Where the working folder of `name` lives (compose records it in labels).
    pub fn dir(&self, name: &str) -> PathBuf {
        self.data_dir.join("stacks").join(name)
    }

    /// Replaces the working folder of `desired` with its files plus the model
    /// compose resolved from them, as admitted ([`admit`]; resolved in a scratch
    /// folder unless these files were resolved before), with `labels` on every
    /// service; then runs `compose up` on that model alone, so what runs is
    /// what was checked.
    ///
    /// # Errors
    /// When the folder cannot be written, compose fails, or the model is refused.
    pub async fn up(
        &self,
        desired: &DesiredStack,
        labels: &StackLabels,
    ) -> Result<RunOutput, WorkspaceError> {
        self.up_unmasked(desired, labels)
            .await
            .map_err(|e| self.masked(&desired.name, Some(desired), e))
    }

    async fn up_unmasked(
        &self,
        desired: &DesiredStack,
        labels: &StackLabels,
    ) -> Result<RunOutput, WorkspaceError> {
        let model = self.admitted_model(desired).await?;
        let dir = self.dir(&desired.name);
        materialize(&dir, &desired.files, overlay::labelled(&model, labels)).await?;
        let files = [MODEL_FILE];
        Ok(self
            .compose
            .up(&project(&desired.name, &dir, &files))
            .await?)
    }

    /// Resolves and admits the model of `desired` ahead of its apply, so the
    /// apply runs only `compose up`; nothing is applied. Errors are left for
    /// the apply to report.
    pub async fn prefetch(&self, desired: &DesiredStack) {
        if let Err(e) = self.admitted_model(desired).await {
            tracing::debug!(stack = %desired.name, error = %self.masked(&desired.name, Some(desired), e), "prefetch did not admit");
        }
    }

    /// Whether the model of `desired` (its `stack_hash`) is resolved and
    /// judged already, admitted or refused.
    pub fn is_judged(&self, desired: &DesiredStack) -> bool {
        self.admitted()
            .get(desired.name.as_str())
            .is_some_and(|(hash, cell)| *hash == desired.stack_hash && cell.initialized())
    }

    /// Forgets the models of stacks not in `keep`.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.admitted().retain(|name, _| keep(name));
    }

    /// The admitted model of `desired`: resolved once per `stack_hash`.
    async fn admitted_model(&self, desired: &DesiredStack) -> Result<Arc<Value>, WorkspaceError> {
        let cell = self.admission(desired);
        let judged = cell
            .get_or_try_init(|| async {
                match self.resolve_unmasked(desired).await {
                    Ok(resolved) => Ok(Ok(Arc::new(resolved.config))),
                    Err(WorkspaceError::Refused(why)) => Ok(Err(why)),
                    Err(other) => Err(other),
                }
            })
            .await?;
        judged.clone().map_err(WorkspaceError::Refused)
    }

    /// The admission of the `stack_hash` of `desired`, replacing one of another.
    fn admission(&self, desired: &DesiredStack) -> Admission {
        let mut admitted = self.admitted();
        match admitted.get(desired.name.as_str()) {
            Some((hash, cell)) if *hash == desired.stack_hash => cell.clone(),
            _ => {
                let cell = Admission::default();
                admitted.insert(
                    desired.name.to_string(),
                    (desired.stack_hash.clone(), cell.clone()),
                );
                cell
            }
        }
    }

    fn admitted(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Admission)>> {
        self.admitted.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `compose down` with the files of the last apply; `None` (nothing run) when
    /// those files are gone (`DATA_DIR` wiped).
    ///
    /// # Errors
    /// When compose fails.
    pub async fn down(&self, name: &str) -> Result<Option<RunOutput>, WorkspaceError> {
        let dir = self.dir(name);
        let Some(files) = last_files(&dir) else {
            return Ok(None);
        };
        match self.compose.down(&project(name, &dir, files)).await {
            Ok(run) => Ok(Some(run)),
            Err(e) => Err(self.masked(name, None, e.into())),
        }
    }

    /// Deletes the working folder of `name` (after a removal); best effort.
    pub async fn discard(&self, name: &str) {
        self.admitted().remove(name);
        let dir = self.dir(name);
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
    }

    /// `compose config` of `desired`, run in a scratch folder so the working
    /// folder of a running stack is never touched by a plan.
    ///
    /// The model is kept for the apply of the same files, which then runs no
    /// `compose config` of its own.
    ///
    /// # Errors
    /// When the scratch folder cannot be written, compose rejects the files, or
    /// the resolved model is refused ([`admit`]).
    pub async fn resolve(&self, desired: &DesiredStack) -> Result<ResolvedConfig, WorkspaceError> {
        let resolved = self.resolve_unmasked(desired).await;
        let judged = match &resolved {
            Ok(resolved) => Some(Ok(Arc::new(resolved.config.clone()))),
            Err(WorkspaceError::Refused(why)) => Some(Err(why.clone())),
            Err(_) => None,
        };
        if let Some(judged) = judged {
            // Already judged (or being judged): the same files, the same model.
            let _ = self.admission(desired).set(judged);
        }
        resolved.map_err(|e| self.masked(&desired.name, Some(desired), e))
    }

    async fn resolve_unmasked(
        &self,
        desired: &DesiredStack,
    ) -> Result<ResolvedConfig, WorkspaceError> {
        let scratch_root = self.data_dir.join("plans");
        tokio::fs::create_dir_all(&scratch_root).await?;
        let scratch = tempfile::tempdir_in(&scratch_root)?;
        let scratch_dir = scratch.path().join(desired.name.as_str());
        materialize(&scratch_dir, &desired.files, b"{}\n".to_vec()).await?;
        let files = [desired.compose_file.as_str()];
        let output = self
            .compose
            .config(&project(&desired.name, &scratch_dir, &files))
            .await?;
        // Paths as the real apply will see them: in the stack's working folder.
        let workdir = self.dir(&desired.name);
        let text = output.stdout.replace(
            &scratch_dir.to_string_lossy().into_owned(),
            &workdir.to_string_lossy(),
        );
        let config = parse(&text)?;
        admit(&config, &workdir, &self.policy).map_err(WorkspaceError::Refused)?;
        Ok(ResolvedConfig {
            config,
            scratch,
            scratch_dir,
            workdir,
        })
    }
}

/// `compose config` output (YAML from v1, YAML or JSON from v2).
fn parse(text: &str) -> Result<Value, WorkspaceError> {
    serde_saphyr::from_str(text).map_err(|e| WorkspaceError::Unreadable(e.to_string()))
}

fn project<'a>(name: &'a str, dir: &'a Path, files: &'a [&'a str]) -> Project<'a> {
    Project {
        name,
        workdir: dir,
        files,
    }
}

/// Writes `files` and the labelled model into `dir` off the async threads.
async fn materialize(dir: &Path, files: &[StackFile], model: Vec<u8>) -> std::io::Result<()> {
    let dir = dir.to_path_buf();
    let files = files.to_vec();
    tokio::task::spawn_blocking(move || {
        super::workdir::materialize(&dir, &files, (MODEL_FILE, &model))
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))?
}

/// The compose files of the last apply in `dir`, if the folder is there: the
/// labelled model, or (a folder an older docker-cd applied) the stack's compose
/// file with the override beside it.
fn last_files(dir: &Path) -> Option<&'static [&'static str]> {
    if dir.join(MODEL_FILE).is_file() {
        return Some(&[MODEL_FILE]);
    }
    if !dir.join(OVERRIDE_FILE).is_file() {
        return None;
    }
    const LEGACY: [[&str; 2]; 4] = [
        [COMPOSE_FILE_NAMES[0], OVERRIDE_FILE],
        [COMPOSE_FILE_NAMES[1], OVERRIDE_FILE],
        [COMPOSE_FILE_NAMES[2], OVERRIDE_FILE],
        [COMPOSE_FILE_NAMES[3], OVERRIDE_FILE],
    ];
    COMPOSE_FILE_NAMES
        .iter()
        .position(|f| dir.join(f).exists())
        .map(|i| &LEGACY[i][..])
}
