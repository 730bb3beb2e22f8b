# Sourced by the sweep scripts: refuse to mix a new sweep into a folder that already holds runs.
require_empty_sweep_dir() {  # require_empty_sweep_dir DIR
  if [ -d "$1" ] && [ -n "$(ls -A "$1")" ]; then
    echo "$1 is not empty; remove it or pass another folder" >&2
    exit 2
  fi
}
