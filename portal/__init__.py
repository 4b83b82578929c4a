"""The consent and subject-rights portal: the kernel, identity and reference data; the
application is composed in portal.app."""
