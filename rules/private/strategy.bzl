"""Eager or lazy: how the `bazel run` targets that need an image's layer blobs (ko_push, ko_load) get them."""

# The command line's say, through --define: a Starlark flag would do, but
# Bazel 4 names the output directory of every transitioned configuration
# (each binary's) after the Starlark flags set, so setting one would move
# the binaries and miss the cache for them and every layer of theirs.
_STRATEGY = "rko_push_strategy"
_REMOTE_CACHE = "rko_remote_cache"
_REMOTE_INSTANCE_NAME = "rko_remote_instance_name"

STRATEGY_ATTRS = {
    "strategy": attr.string(
        doc = "How layer blobs reach rko: `eager` ships them in the runfiles; `lazy` ships only the image's metadata and where Bazel would have put each blob, and rko reads the blobs it needs from the remote cache (`--define=rko_remote_cache=grpc://HOST:PORT`, `--define=rko_remote_instance_name=NAME`), so a build under --remote_download_minimal never downloads a layer. Default: `--define=rko_push_strategy=lazy|eager`, else eager.",
        values = ["", "eager", "lazy"],
    ),
}

def is_lazy(ctx, rule_name):
    """Whether the target's `strategy` (else --define=rko_push_strategy=…) is lazy.

    Args:
      ctx: a context whose rule has STRATEGY_ATTRS.
      rule_name: the rule's name, for the error.

    Returns:
      True for lazy, False for eager.
    """
    strategy = ctx.attr.strategy or ctx.var.get(_STRATEGY, "eager")
    if strategy not in ["eager", "lazy"]:
        fail("%s %s: strategy %r: give eager or lazy (--define=%s=…)" % (rule_name, ctx.label, strategy, _STRATEGY))
    return strategy == "lazy"

def hints_file(ctx, layers):
    """Where Bazel would have written each layer blob, one exec path a line (the run script makes it absolute under the workspace).

    Args:
      ctx: the rule context.
      layers: the image's layers, struct(blob, ...) each.

    Returns:
      The file.
    """
    out = ctx.actions.declare_file(ctx.label.name + ".blob-hints.txt")
    ctx.actions.write(out, "".join([layer.blob.path + "\n" for layer in layers]))
    return out

def remote_cache_substitutions(ctx):
    """The template substitutions that name the remote cache, from --define.

    Args:
      ctx: the rule context.

    Returns:
      A dict for expand_template.
    """
    return {
        "{{remote_cache}}": ctx.var.get(_REMOTE_CACHE, ""),
        "{{remote_instance_name}}": ctx.var.get(_REMOTE_INSTANCE_NAME, ""),
    }
