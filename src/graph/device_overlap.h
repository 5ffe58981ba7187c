// Device overlap: what a step's trace (core/trace.h, recorded by the executor
// through StepOptions::trace / PartitionedRunner::Run) shows about
// pipelining -- how long kernels of two or more devices ran at the same time.
// A node span's device is its track's name without the executor's per-thread
// suffix (" #k", " async"). Send and Recv count as no work (a Recv mostly
// waits for its value). Pure functions.
#pragma once

#include <string>

#include "core/trace.h"

namespace flowps {

struct DeviceOverlap {
  double busy_seconds = 0;     // a kernel (not Send/Recv) of any device ran
  double overlap_seconds = 0;  // kernels of at least two devices ran
  int devices = 0;             // devices with at least one kernel
};

DeviceOverlap MeasureDeviceOverlap(const TaskTrace& trace);

// The device of a track the executor named ("/job:w/task:0/device:cpu:1 #2" -> "/job:w/task:0/device:cpu:1").
std::string TrackDevice(const std::string& track);

}  // namespace flowps
