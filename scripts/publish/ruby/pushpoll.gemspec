# frozen_string_literal: true

require_relative "lib/pushpoll/version"

Gem::Specification.new do |s|
  s.name = "pushpoll"
  s.version = PushPoll::VERSION
  s.summary = "Publish pushpoll version bumps and mint its browser tokens, with Rails integration"
  s.description = <<~DESC
    Tells pushpoll notifiers that a topic changed (a version bump through Redis, one
    round trip, only ever upwards) and mints the HS256 tokens browsers present to them.
    In Rails: a model concern that bumps after commit, a view helper for the shim's
    script tag with the request's CSP nonce, a token endpoint helper and a Railtie that
    reads its settings from the environment or the credentials.
  DESC
  s.authors = ["The pushpoll authors"]
  s.license = "Apache-2.0"
  s.homepage = "https://github.com/pushpoll/pushpoll"
  s.metadata = {
    "source_code_uri" => "https://github.com/pushpoll/pushpoll/tree/main/scripts/publish/ruby",
    "changelog_uri" => "https://github.com/pushpoll/pushpoll/blob/main/CHANGELOG.md",
    "rubygems_mfa_required" => "true",
  }
  s.required_ruby_version = ">= 2.7"
  # Listed by hand rather than with git ls-files: gem build must work from a
  # release tarball, where there is no git.
  s.files = Dir.glob("lib/**/*.{rb,lua}", base: __dir__) + ["exe/pushpoll", "README.md", "LICENSE"]
  s.bindir = "exe"
  s.executables = ["pushpoll"]
  s.require_paths = ["lib"]
  # redis-rb 5 moved cluster support into redis-clustering, which only
  # redis-cluster:// URLs need; the error for a missing one names it.
  s.add_dependency "redis", ">= 4.6", "< 6"
  s.add_dependency "jwt", ">= 2.2", "< 4"
end
