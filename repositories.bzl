"""offlog's external dependencies, for workspaces that depend on offlog.

In your WORKSPACE:

    local_repository(
        name = "offlog",
        path = "/path/to/offlog",  # or an http_archive of a release
    )

    load("@offlog//:repositories.bzl", "offlog_dependencies")

    offlog_dependencies()

Everything is local: nothing is downloaded. A repository the consumer has
already declared (by the same name) is left alone.
"""

# offlog's own root, as a label in offlog's repository whatever name the
# consumer gave it: Label() in a .bzl file resolves against that file's
# repository, not the caller's.
_OFFLOG_WORKSPACE = Label("//:WORKSPACE")

def _offlog_local_repository_impl(repository_ctx):
    # A local_repository's relative path would resolve against the
    # consumer's workspace (Bazel 4.2.3); this finds offlog's own tree.
    root = repository_ctx.path(repository_ctx.attr.workspace_file).dirname
    source = root
    for part in repository_ctx.attr.subdir.split("/"):
        source = source.get_child(part)
    if not source.exists:
        fail("offlog: %s is missing" % source)
    for child in source.readdir():
        repository_ctx.symlink(child, child.basename)

_offlog_local_repository = repository_rule(
    implementation = _offlog_local_repository_impl,
    attrs = {
        "subdir": attr.string(mandatory = True),
        "workspace_file": attr.label(allow_single_file = True),
    },
    local = True,
)

def offlog_dependencies():
    """Declares every repository offlog needs that is not declared yet."""
    if not native.existing_rule("rules_java"):
        # Debian's bazel-rules-java (deploy/setup.sh installs it).
        native.local_repository(
            name = "rules_java",
            path = "/usr/share/bazel/rules/java",
        )
    for name in ["rules_cc", "remote_coverage_tools"]:
        if not native.existing_rule(name):
            _offlog_local_repository(
                name = name,
                subdir = "third_party/" + name,
                workspace_file = _OFFLOG_WORKSPACE,
            )
