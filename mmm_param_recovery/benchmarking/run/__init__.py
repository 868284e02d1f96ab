"""Running a benchmark: specs and their run keys, the plan, isolated fits in fresh child
processes, and the runner that turns a plan into records."""
