#!/usr/bin/env bash
# PIPELINE_LAUNCHER: how the retry commands in notifications and job summaries start the build program.
PIPELINE_LAUNCHER="${PIPELINE_LAUNCHER:-$0}" exec dotnet run --project "$(dirname "$0")/build/Build.csproj" -- "$@"
