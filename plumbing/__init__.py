"""Plumbing every package shares: the command-line front end and crash-safe file writes.

`data_pipeline`, `pretrain` and `launch` all import it and it imports none of them, so it sits below the
package boundary (data_pipeline must not import pretrain; both need these):

* `user_error`   — `UserError`, the one type for mistakes a user can fix, and the one place it becomes
                   ``error: ...`` + exit 2.
* `atomic_write` — write a file so readers see the old or the whole new one, fsynced.
* `hydra_compose`— Hydra composition of conf/ + overrides into a typed dataclass, errors as one line.
* `command_line` — the entry points' front end: --help, --cfg job, --info, launcher arguments.
* `config_help`  — the --help text, generated from a schema's dataclasses and their comments.
* `input_files`  — a path, a glob or a list of them → the files a command reads, announced before it starts.
"""
