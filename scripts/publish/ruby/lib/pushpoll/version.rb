# frozen_string_literal: true

module PushPoll
  # The notifier's release this gem ships with; internal/version holds the same
  # number, and the project's tests fail if the two differ.
  VERSION = "0.3.0"
end
