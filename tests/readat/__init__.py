"""Tests of randread.readat, one module per backend; test_remote_* per module of readat/remote/."""
