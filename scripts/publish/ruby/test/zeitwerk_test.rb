# frozen_string_literal: true

require "test_helper"
require "open3"
require "rbconfig"

# The gem's files are where Zeitwerk expects their constants (with the one
# inflection pushpoll => PushPoll that the Railtie also gives the app), so an
# app that eager-loads, or a tool that checks with Zeitwerk, finds no
# surprise. Run in a process of its own: the check needs PushPoll undefined.
class ZeitwerkTest < Minitest::Test
  CHECK = <<~'RUBY'
    require "rails"
    require "active_record/railtie"
    require "action_controller/railtie"
    require "zeitwerk"
    lib = ARGV.fetch(0)
    loader = Zeitwerk::Loader.new
    loader.inflector = Zeitwerk::GemInflector.new(File.join(lib, "pushpoll.rb"))
    loader.inflector.inflect("pushpoll" => "PushPoll")
    loader.push_dir(lib)
    loader.setup
    loader.eager_load
    print [PushPoll::VERSION, PushPoll::Railtie, PushPoll::Model, PushPoll::ViewHelper, PushPoll::TokenEndpoint,
           PushPoll::Connector, PushPoll::Command].map(&:to_s).join(" ")
  RUBY

  def test_eager_loads_under_zeitwerk
    lib = File.expand_path("../lib", __dir__)
    out, err, status = Open3.capture3(RbConfig.ruby, "-I", lib, "-e", CHECK, lib)
    assert status.success?, err
    assert_equal "#{File.read(File.join(lib, 'pushpoll/version.rb'))[/VERSION = "(.*)"/, 1]} PushPoll::Railtie PushPoll::Model " \
                 "PushPoll::ViewHelper PushPoll::TokenEndpoint PushPoll::Connector PushPoll::Command", out
  end
end
