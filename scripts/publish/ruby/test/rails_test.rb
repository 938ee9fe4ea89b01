# frozen_string_literal: true

require "test_helper"
require "jwt"
require "logger"
require "open3"
require "securerandom"
require "stringio"
require "tempfile"
require "tmpdir"

SECRET = "rails-test-secret-0123456789abcdef"
LOG = StringIO.new

# A real Rails app (Debian's Rails 6.1 here), configured the way a deployment
# is: the notifier's variables in the environment, credentials unset.
ENV["DATABASE_URL"] = "sqlite3::memory:"
ENV["PUSHPOLL_REDIS_URL"] = RedisServer.url
ENV["PUSHPOLL_TOKEN_SECRET"] = SECRET
ENV["PUSHPOLL_CHANNEL_PREFIX"] = "rails:"
ENV["PUSHPOLL_PUBLIC_URL"] = "https://push.example.com"

require "rails"
require "active_record/railtie"
require "action_controller/railtie"
require "pushpoll" # after Rails, as Bundler.require does: it brings the Railtie

class TestApp < Rails::Application
  config.load_defaults 6.1 # the zeitwerk autoloader, as in every app generated since Rails 6
  config.root = File.join(__dir__, "app")
  config.eager_load = false
  config.logger = ActiveSupport::Logger.new(LOG)
  config.secret_key_base = "0" * 64
  config.hosts.clear
  config.action_dispatch.show_exceptions = false # a helper's error reaches the test
  config.content_security_policy { |policy| policy.script_src :self }
  config.content_security_policy_nonce_generator = ->(_request) { SecureRandom.base64(16) }
end
TestApp.initialize!
BOOT_CONFIG = PushPoll.config

ActiveRecord::Migration.verbose = false
ActiveRecord::Schema.define do
  create_table(:projects) { |t| t.string :name; t.timestamps }
  create_table(:tasks) { |t| t.integer :project_id; t.string :title; t.timestamps }
  create_table(:docs) { |t| t.string :body; t.integer :lock_version, default: 0, null: false }
end

class Project < ActiveRecord::Base
  include PushPoll::Model
  pushpoll_topic { |project| "project:#{project.id}" }
end

class Task < ActiveRecord::Base
  include PushPoll::Model
  pushpoll_topic { |task| ["project:#{task.project_id}", "task:#{task.id}"] }
end

class Doc < ActiveRecord::Base
  include PushPoll::Model
  pushpoll_topic(version: :lock_version) { |doc| "doc:#{doc.id}" }
end

TestApp.routes.draw do
  get "/pushpoll/token", to: "tokens#show"
  get "/projects/:id", to: "projects#show"
end

class TokensController < ActionController::Base
  include PushPoll::TokenEndpoint

  def show
    render_pushpoll_token sub: 42, topics: ["project:#{Integer(params[:project_id])}"], ttl: 60
  end
end

class ProjectsController < ActionController::Base
  def show
    @project = Project.find(params[:id])
    render inline: <<~ERB
      <%= pushpoll_tag topics: { "project:\#{@project.id}" => @project.pushpoll_version }, poll: params[:poll], fast: 5000, fast_min: 2000, hiddenFactor: 4 %>
    ERB
  end
end

class RailsTest < Minitest::Test
  def setup
    PushPoll::Railtie.configure(TestApp)
    @redis = RedisServer.client
    @redis.flushdb
    LOG.truncate(0)
    LOG.rewind
  end

  def teardown
    @redis.close
  end

  def get(path)
    Rack::MockRequest.new(TestApp).get(path)
  end

  def test_railtie_reads_the_environment
    assert_equal "rails:", BOOT_CONFIG.prefix
    assert_equal SECRET, BOOT_CONFIG.secret
    assert_equal "https://push.example.com", BOOT_CONFIG.notifier_url
    assert_equal RedisServer.url.sub("redis://", "").split(":").last.to_i, BOOT_CONFIG.redis.spec.nodes[0][:port]
    assert_equal Rails.logger, PushPoll.logger
  end

  def test_settings_precedence_config_then_environment_then_credentials
    settings = PushPoll::Railtie.settings(
      { redis_url: "redis://config:1", token_secret: "" },
      { "PUSHPOLL_REDIS_URL" => "redis://env:1", "PUSHPOLL_TOKEN_SECRET" => "env-secret" },
      { redis_url: "redis://cred:1", token_secret: "cred-secret", token_audience: "cred-aud" },
    )
    assert_equal({ redis_url: "redis://config:1", token_secret: "env-secret", channel_prefix: nil, token_audience: "cred-aud", public_url: nil,
                   version_ttl: nil },
                 settings)
  end

  # PUSHPOLL_VERSION_TTL is the notifier's variable, so it takes Go durations.
  def test_version_ttl_as_the_notifier_reads_it
    assert_equal [604_800, 5400, 0, 90, 5400, 2], %w[168h 1h30m 0 90s 1.5h 1500ms500ms].map { |d| PushPoll::Railtie.duration_seconds(d) }
    %w[1 1x h 1.2s -1h 1500ms 1d].each do |d|
      assert_raises(ArgumentError, d) { PushPoll::Railtie.duration_seconds(d) }
    end
    PushPoll::Railtie.configure(TestApp, env: ENV.to_h.merge("PUSHPOLL_VERSION_TTL" => "168h"))
    assert_equal 604_800, PushPoll.config.version_ttl
  end

  # Real encrypted credentials, as bin/rails credentials:edit writes them.
  def test_credentials_section
    Dir.mktmpdir do |dir|
      key = File.join(dir, "master.key")
      File.write(key, ActiveSupport::EncryptedConfiguration.generate_key)
      creds = ActiveSupport::EncryptedConfiguration.new(config_path: File.join(dir, "credentials.yml.enc"), key_path: key,
                                                        env_key: "PUSHPOLL_TEST_NO_SUCH_KEY", raise_if_missing_key: true)
      creds.write("pushpoll:\n  redis_url: redis://cred:1\n  token_secret: cred-secret\n")
      app = Struct.new(:credentials).new(creds)
      assert_equal({ redis_url: "redis://cred:1", token_secret: "cred-secret" }, PushPoll::Railtie.credentials(app))

      # Without the key (a CI box, a developer without it) there is no section.
      File.delete(key)
      locked = ActiveSupport::EncryptedConfiguration.new(config_path: File.join(dir, "credentials.yml.enc"), key_path: key,
                                                         env_key: "PUSHPOLL_TEST_NO_SUCH_KEY", raise_if_missing_key: true)
      assert_equal({}, PushPoll::Railtie.credentials(Struct.new(:credentials).new(locked)))
    end
  end

  def test_inflection_for_the_apps_own_pushpoll_directory
    assert_equal "PushPoll::Feed", PushPoll::Feed.name
    refute Object.const_defined?(:Pushpoll)
  end

  def test_create_bumps_after_commit_not_inside_the_transaction
    sub = Subscriber.new("rails:project:*")
    project = nil
    Project.transaction do
      project = Project.create!(name: "a")
      assert_nil @redis.get("rails:project:#{project.id}"), "bumped before the commit"
      assert sub.quiet?("rails:project:marker")
    end
    version = project.pushpoll_version
    assert_equal (project.updated_at.to_r * 1_000_000).to_i, version
    assert_equal version.to_s, @redis.get("rails:project:#{project.id}")
    assert_equal version, JSON.parse(sub.next_message)["v"]
    sub.close
  end

  def test_rollback_bumps_nothing
    Project.transaction do
      Project.create!(name: "gone")
      raise ActiveRecord::Rollback
    end
    assert_equal 0, @redis.dbsize
  end

  def test_updates_only_grow_and_destroy_is_news
    project = Project.create!(name: "a")
    key = "rails:project:#{project.id}"
    first = @redis.get(key).to_i
    project.update!(name: "b")
    second = @redis.get(key).to_i
    assert_operator second, :>, first
    assert_equal project.pushpoll_version, second

    # A racing app server already announced a newer version: this commit's
    # older one changes nothing and announces nothing.
    @redis.set(key, second + 1_000_000)
    sub = Subscriber.new(key)
    project.update!(name: "c")
    assert_equal (second + 1_000_000).to_s, @redis.get(key)
    assert sub.quiet?(key)

    project.destroy!
    assert_operator @redis.get(key).to_i, :>, second + 1_000_000 - 1
    assert_operator @redis.get(key).to_i, :>, project.pushpoll_version
    sub.close
  end

  def test_several_topics_from_one_record
    project = Project.create!(name: "a")
    task = Task.create!(project_id: project.id, title: "t")
    assert_equal task.pushpoll_version.to_s, @redis.get("rails:task:#{task.id}")
    assert_equal [project.pushpoll_version, task.pushpoll_version].max.to_s, @redis.get("rails:project:#{project.id}")
  end

  def test_lock_version_source
    doc = Doc.create!(body: "a")
    assert_equal "1", @redis.get("rails:doc:#{doc.id}") # lock_version 0 is version 1
    doc.update!(body: "b")
    assert_equal "2", @redis.get("rails:doc:#{doc.id}")
    doc.destroy!
    assert_equal "3", @redis.get("rails:doc:#{doc.id}")
  end

  def test_declaration_errors
    assert_raises(ArgumentError) { Class.new(ActiveRecord::Base) { include PushPoll::Model; pushpoll_topic } }
    assert_raises(ArgumentError) do
      Class.new(ActiveRecord::Base) { include PushPoll::Model; pushpoll_topic(version: "updated_at") { "t" } }
    end
  end

  def test_a_bad_topic_or_version_raises_at_commit
    bad_topic = Class.new(Project) { pushpoll_topic { |p| "project #{p.id}" } }
    assert_raises(ArgumentError) { bad_topic.create!(name: "a") }
    bad_version = Class.new(Project) { pushpoll_topic(version: ->(_) { 0 }) { |p| "project:#{p.id}" } }
    assert_raises(ArgumentError) { bad_version.create!(name: "b") }
    assert_equal 0, @redis.dbsize
  end

  def test_redis_down_logs_and_the_commit_stands
    PushPoll.configure(url: "redis://127.0.0.1:#{RedisServer.free_port}", prefix: "rails:")
    project = Project.create!(name: "offline")
    assert Project.exists?(project.id)
    assert_match(/pushpoll: bump for Project #{project.id} failed: Redis::CannotConnectError/, LOG.string)
  end

  def test_no_redis_configured_skips_with_one_warning
    PushPoll::Railtie.configure(TestApp, env: ENV.to_h.merge("PUSHPOLL_REDIS_URL" => ""))
    PushPoll.instance_variable_set(:@bumps_off_warned, nil)
    2.times { Project.create!(name: "x") }
    assert_equal 0, @redis.dbsize
    assert_equal 1, LOG.string.scan("no Redis configured").size
  end

  def test_token_endpoint
    res = get("/pushpoll/token?project_id=7")
    assert_equal 200, res.status
    assert_match %r{\Atext/plain}, res.content_type
    assert_equal "no-store", res.headers["Cache-Control"]
    claims, header = JWT.decode(res.body, SECRET, true, algorithm: "HS256", aud: "pushpoll", verify_aud: true)
    assert_equal "HS256", header["alg"]
    assert_equal "42", claims["sub"]
    assert_equal ["project:7"], claims["topics"]
    assert_equal 60, claims["exp"] - claims["iat"]
  end

  def test_view_helper_with_the_requests_csp_nonce
    project = Project.create!(name: "a")
    res = get("/projects/#{project.id}?poll=App.pollProject")
    assert_equal 200, res.status, res.body
    nonce = res.headers["Content-Security-Policy"][/'nonce-([^']+)'/, 1]
    refute_nil nonce, res.headers["Content-Security-Policy"]
    html = res.body
    assert_includes html, %(<script src="/pushpoll.js" nonce="#{nonce}"></script>)
    script = html[%r{<script nonce="#{Regexp.escape(nonce)}">\n//<!\[CDATA\[\n(.*)\n//\]\]>\n</script>}m, 1]
    refute_nil script, html
    start = JSON.parse(script[/PushPoll\.start\(Object\.assign\((\{.*?\}), \{/m, 1])
    assert_equal({ "url" => "https://push.example.com", "topics" => { "project:#{project.id}" => project.pushpoll_version }, "fast" => 5000,
                   "fastMin" => 2000, "hiddenFactor" => 4 },
                 start)
    assert_includes script, %(fetch("/pushpoll/token", { credentials: "same-origin" }))
    assert_includes script, "return App.pollProject(versions);"
    assert script.start_with?("window.pushpoll = ")
    # What a browser parses: node reads it as JavaScript without running it.
    Tempfile.create(["pushpoll-start", ".js"]) do |f|
      f.write(script)
      f.flush
      out, status = Open3.capture2e("node", "--check", f.path)
      assert status.success?, out
    end
  end

  def test_view_helper_refuses_unknown_options
    view = ActionView::Base.empty
    view.extend(PushPoll::ViewHelper)
    err = assert_raises(ArgumentError) { view.pushpoll_tag(topics: { "project:1" => 1 }, poll: "App.poll", src: "/p.js", on_mode: "x") }
    assert_match(/unknown options \["onMode"\]/, err.message)
    assert_raises(ArgumentError) { view.pushpoll_tag(topics: {}, poll: "App.poll", src: "/p.js") }
    assert_raises(ArgumentError) { view.pushpoll_tag(topics: { "bad topic" => 1 }, poll: "App.poll", src: "/p.js") }
    assert_raises(ArgumentError) { view.pushpoll_tag(topics: { "project:1" => -1 }, poll: "App.poll", src: "/p.js") }
    assert_raises(ArgumentError) { view.pushpoll_tag(topics: { "project:1" => 1 }, poll: "App.poll", src: "/p.js", url: "") }
    assert_raises(ArgumentError) { view.pushpoll_tag(topics: { "project:1" => 1 }, poll: "App.poll", src: "/p.js", as: "a.b") }
  end

  def test_view_helper_refuses_what_could_inject_script
    project = Project.create!(name: "a")
    ["alert(1)", "App.poll;x", "App..poll", ""].each do |poll|
      err = assert_raises(ActionView::Template::Error, poll) { get("/projects/#{project.id}?poll=#{CGI.escape(poll)}") }
      assert_match(/poll: must name a JavaScript function/, err.message)
    end
  end
end
