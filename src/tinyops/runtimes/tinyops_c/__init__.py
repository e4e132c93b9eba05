"""Model images for the tinyops-c runtime: compiler (``compile_image``) and the host
build of the runtime (``native.NativeRuntime``)."""

from tinyops.runtimes.tinyops_c.compiler import SUPPORTED_OPS, CompiledImage, compile_image
from tinyops.runtimes.tinyops_c.format import FORMAT_VERSION

__all__ = ["compile_image", "CompiledImage", "SUPPORTED_OPS", "FORMAT_VERSION"]
