"""The measuring agent: runs on the target device, measures ONNX models sent to it over HTTP.

``server`` (``hwnas agent``) and ``validate`` need only numpy, pyyaml, onnx, onnxruntime and aiohttp:
no torch, pandas or scikit-learn, so the agent installs on a small device alone (see the README).
``client`` is what ``hwnas profile --agent`` and ``hwnas search --agent`` use; ``wire`` is the format
both sides share.
"""

from hwnas.agent.wire import WIRE_VERSION

__all__ = ["WIRE_VERSION"]
