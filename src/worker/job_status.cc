#include "worker/job_status.h"

namespace flowps {

const char* JobStateName(JobState s) {
  switch (s) {
    case JobState::kIdle: return "idle";
    case JobState::kStarting: return "starting";
    case JobState::kRunning: return "running";
    case JobState::kDone: return "done";
    case JobState::kFailed: return "failed";
    case JobState::kStopped: return "stopped";
  }
  return "idle";
}

JobState ParseJobState(const std::string& name) {
  for (JobState s : {JobState::kIdle, JobState::kStarting, JobState::kRunning, JobState::kDone, JobState::kFailed,
                     JobState::kStopped})
    if (name == JobStateName(s)) return s;
  return JobState::kIdle;
}

}  // namespace flowps
