"""Tests of randread.cli, a module per command as in src/randread/cli/."""
