"""The Open Inference Protocol over gRPC, beside HTTP on the same server and event loop
(``pip install 'mlpilot[grpc]'``).

Requests go through the same checks, batches and workers as HTTP ones; only the framing
differs. Inputs arrive as typed ``contents`` or as ``raw_input_contents`` (one
little-endian buffer per input, what ``tritonclient.grpc`` sends); outputs leave as
``raw_output_contents``, which standard clients decode by the tensor's datatype. A
refusal is a gRPC status: INVALID_ARGUMENT for a request that does not fit the model,
NOT_FOUND for a model that is not served, UNAVAILABLE when its worker died.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from mlpilot import __version__
from mlpilot.errors import ConfigError, InvalidInputError
from mlpilot.serve._proto import inference_pb2 as pb
from mlpilot.serve._proto import inference_pb2_grpc as pb_grpc
from mlpilot.serve._server import HttpError, Server
from mlpilot.serve._v2 import (
    PREDICT_PROBA,
    columns_of,
    deployment_of,
    from_bytes,
    model_metadata,
    output_tensors,
    to_bytes,
)

#: Which field of InferTensorContents holds each datatype's values.
_CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
_STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    503: grpc.StatusCode.UNAVAILABLE,
}


def bind(server: Server, host: str, port: int) -> grpc.aio.Server:
    """A gRPC server for the protocol's service, bound to ``host:port``; ``await
    start()`` on it once the models have loaded.

    Raises:
        ConfigError: The address cannot be listened on.
    """
    service = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", int(server.config.max_body_mb * 1024 * 1024)),
            # A port another process holds is an error, not a port shared with it.
            ("grpc.so_reuseport", 0),
        ]
    )
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(_Service(server), service)  # type: ignore[no-untyped-call]
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = service.add_insecure_port(address)
    except RuntimeError as exc:
        bound, reason = 0, str(exc)
    else:
        reason = "the port is in use"
    if not bound:
        raise ConfigError(
            f"cannot listen for gRPC on {address}: {reason}; choose another --grpc-port"
        )
    return service


def _refusals(
    rpc: Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Any]],
) -> Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Any]]:
    """Turn the server's refusals into gRPC statuses with their messages."""

    async def answer(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await rpc(self, request, context)
        except HttpError as exc:
            await context.abort(_STATUS.get(exc.status, grpc.StatusCode.INVALID_ARGUMENT), str(exc))
        except InvalidInputError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))

    return answer


class _Service(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, server: Server) -> None:
        self._server = server

    async def ServerLive(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.ServerReadyResponse(ready=self._server.ready)

    async def ServerMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.ServerMetadataResponse(name="mlpilot", version=__version__, extensions=[])

    @_refusals
    async def ModelReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        deployment = deployment_of(self._server, request.name, request.version)
        return pb.ModelReadyResponse(ready=deployment.primary.pool is not None)

    @_refusals
    async def ModelMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        metadata = model_metadata(deployment_of(self._server, request.name, request.version))
        tensors = {
            key: [pb.ModelMetadataResponse.TensorMetadata(**t) for t in metadata[key]]
            for key in ("inputs", "outputs")
        }
        return pb.ModelMetadataResponse(
            name=metadata["name"],
            versions=metadata["versions"],
            platform=metadata["platform"],
            **tensors,
        )

    @_refusals
    async def ModelInfer(self, request: Any, context: Any) -> Any:  # noqa: N802
        name = request.model_name
        deployment = deployment_of(self._server, name, request.model_version)
        columns = columns_of(_inputs(request), deployment.primary.schema)
        wanted = tuple(o.name for o in request.outputs)
        unknown = [n for n in wanted if n not in ("predict", PREDICT_PROBA)]
        if unknown:
            raise InvalidInputError(
                f"unknown output(s) {', '.join(map(repr, unknown))}; the model's outputs are "
                f"predict and, for a classifier, {PREDICT_PROBA}"
            )
        request_id = request.id or uuid.uuid4().hex
        scores = not wanted or PREDICT_PROBA in wanted
        served = await self._server.predict(name, columns, request_id, scores)
        response = pb.ModelInferResponse(
            model_name=name, model_version=str(served.version), id=request_id
        )
        for tensor in output_tensors(served.predictions, served.scores, wanted):
            response.outputs.add(
                name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"]
            )
            response.raw_output_contents.append(to_bytes(tensor["data"], tensor["datatype"]))
        return response


def _inputs(request: Any) -> list[dict[str, Any]]:
    """The request's input tensors as the HTTP protocol has them: data as lists."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise InvalidInputError(
            f"raw_input_contents holds {len(raw)} buffers for {len(request.inputs)} inputs; "
            "send one per input, or none and each input's contents"
        )
    tensors = []
    for index, tensor in enumerate(request.inputs):
        if raw:
            data = from_bytes(raw[index], tensor.datatype, index)
        else:
            field = _CONTENTS.get(tensor.datatype)
            if field is None:
                raise InvalidInputError(
                    f"inputs[{index}] has datatype {tensor.datatype!r}; "
                    f"use one of {', '.join(_CONTENTS)}"
                )
            data = list(getattr(tensor.contents, field))
            if tensor.datatype == "BYTES":
                data = [_text(value, index) for value in data]
        tensors.append(
            {
                "name": tensor.name,
                "datatype": tensor.datatype,
                "shape": list(tensor.shape),
                "data": data,
            }
        )
    return tensors


def _text(value: bytes, index: int) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise InvalidInputError(f"inputs[{index}]: BYTES elements must be UTF-8") from None
