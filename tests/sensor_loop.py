"""The daemon's sensor loop, in one process: evaluate the named sensor of every code
location, execute each run it requests in process on the mesh's instance, and repeat until
no sensor asks for anything. `run(SENSOR_SUFFIX)` in a test (settings pointing at the mesh
root, e.g. `config.overridden(home=root)`), or `python -m tests.sensor_loop SENSOR_SUFFIX`
with MESH_HOME set, which prints what was launched as JSON."""

from __future__ import annotations

import json
import sys

from dagster import build_sensor_context

from platform_lib.dagster.workspace import code_locations, in_dependency_order
from platform_lib.ops.instance import mesh_instance


def run(suffix: str, max_rounds: int = 40) -> list[dict]:
    instance = mesh_instance()
    locations = in_dependency_order(code_locations())
    launched = []
    for _ in range(max_rounds):
        requested = 0
        for location in locations:
            sensor = location.defs.get_sensor_def(f"{location.name}_{suffix}")
            repository = location.defs.get_repository_def()
            context = build_sensor_context(instance=instance, repository_def=repository,
                                           resources=location.defs.resources)
            for request in sensor.evaluate_tick(context).run_requests or []:
                requested += 1
                job = location.defs.get_job_def(request.job_name)
                result = job.execute_in_process(
                    instance=instance, run_config=request.run_config, tags=request.tags, raise_on_error=False,
                    asset_selection=list(request.asset_selection) if request.asset_selection else None,
                )
                errors = [(e.step_failure_data.error.cause or e.step_failure_data.error).message for e in result.all_events if e.is_step_failure]
                launched.append({"location": location.name, "job": request.job_name, "tags": dict(request.tags),
                                 "success": result.success, "errors": errors})
        if not requested:
            break
    return launched


def main(suffix: str, max_rounds: int = 40) -> None:
    print(json.dumps(run(suffix, max_rounds)))


if __name__ == "__main__":
    main(sys.argv[1])
