//! ko parity for `resolve`/`apply`/`create`/`delete`/`run` (issue 12): YAML
//! files and directories as ko reads them, kubectl as ko drives it.
