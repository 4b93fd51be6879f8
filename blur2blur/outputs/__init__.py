"""Everything about where outputs go (the ground floor: imports nothing else of blur2blur).

- `files`: outputs never onto inputs, one output name per input, atomic short-named writes,
  disk-full and permission errors said as such, stale temporary files removed;
- `run_folder`: a folder a command owns while it writes there (`RunLock`), the files of a training
  run in it (`run_files`, `state_files`) and `RunFolderError`.
"""
