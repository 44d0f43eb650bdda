//! Admission: what a commit may ask of the host, checked before compose runs
//! and on the model compose resolved. The files rule (`files`: what compose
//! reads while it builds the model, on the files as written), the resolved
//! model (`resolved`: build contexts, secrets and configs files, docker-cd's
//! labels), paths followed as the kernel follows them (`on_disk`), and
//! `POLICY` (`policy`).

pub mod files;
pub mod on_disk;
pub mod policy;
pub mod resolved;
