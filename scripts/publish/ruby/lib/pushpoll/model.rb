# frozen_string_literal: true

require "active_support/concern"

module PushPoll
  # Model bumps a record's topics after every commit that creates, updates or
  # destroys it:
  #
  #   class Project < ApplicationRecord
  #     include PushPoll::Model
  #     pushpoll_topic { |project| "project:#{project.id}" }
  #   end
  #
  #   class Task < ApplicationRecord
  #     include PushPoll::Model
  #     # A task's change is news for its project's page; several topics may be returned.
  #     pushpoll_topic { |task| ["project:#{task.project_id}", "user:#{task.assignee_id}"] }
  #   end
  #
  # after_commit, never inside the transaction: a browser told to poll before
  # the commit would read the old data and miss the change. A rollback bumps
  # nothing.
  #
  # The version is record.pushpoll_version: by default updated_at in
  # microseconds since the epoch, which only grows as the record changes, and
  # the same number the app's poll endpoint can return for it (updated_at
  # needs sub-second precision: Rails 7's default, or precision: 6 on MySQL).
  # A destroyed record bumps with the commit time, so the deletion is news.
  # pushpoll_topic(version: :lock_version) or version: ->(record) { ... }
  # chooses another source; it must only grow, because the notifiers ignore a
  # version that is not newer than the one they hold.
  #
  # A failed bump is logged to PushPoll.logger and not raised: push is a hint,
  # and browsers still poll. Without a configured Redis (no PUSHPOLL_REDIS_URL
  # in a test environment, say) bumps are skipped with one warning.
  module Model
    extend ActiveSupport::Concern

    included do
      class_attribute :pushpoll_topic_source, instance_accessor: false
      class_attribute :pushpoll_version_source, instance_accessor: false
    end

    class_methods do
      def pushpoll_topic(version: :updated_at, &topics)
        raise ArgumentError, "pushpoll_topic needs a block that returns the record's topic(s)" unless topics
        unless version.is_a?(Symbol) || version.respond_to?(:call)
          raise ArgumentError, "pushpoll_topic version: must be an attribute name or a callable (got #{version.inspect})"
        end

        first = pushpoll_topic_source.nil?
        self.pushpoll_topic_source = topics
        self.pushpoll_version_source = version
        # Declared once, so redeclaring the topic (in a subclass, say) does
        # not bump twice.
        after_commit :pushpoll_after_commit if first
      end
    end

    # pushpoll_topics are the record's topics, as the block returns them.
    def pushpoll_topics
      Array(self.class.pushpoll_topic_source.call(self)).compact
    end

    # pushpoll_version is the version bumps carry, and what a poll endpoint
    # or the view helper hands the page for this record.
    def pushpoll_version
      source = self.class.pushpoll_version_source
      value = source.respond_to?(:call) ? source.call(self) : public_send(source)
      case value
      when Time, DateTime, ActiveSupport::TimeWithZone
        (value.to_time.to_r * 1_000_000).to_i
      when Integer
        # lock_version counts from 0, and 0 is not a version.
        source == :lock_version ? value + 1 : value
      else
        value
      end
    end

    private

    def pushpoll_after_commit
      topics = pushpoll_topics
      return if topics.empty?
      return unless PushPoll.bumps_on?

      version = PushPoll.check_version(pushpoll_version)
      # The deletion is news although the record's version did not move: the
      # next version it would have had, and on the clock's scale the commit
      # time (when that is later, as it is unless clocks disagree).
      if destroyed?
        version += 1
        version = [version, Process.clock_gettime(Process::CLOCK_REALTIME, :microsecond)].max if self.class.pushpoll_version_source == :updated_at
      end
      topics.each { |topic| PushPoll.bump(topic, version) }
    rescue Redis::BaseError, SystemCallError, IOError => e
      # Push is only a hint; browsers still poll, so a Redis hiccup must not
      # fail the request that committed.
      PushPoll.warn("pushpoll: bump for #{self.class.name} #{id.inspect} failed: #{e.class}: #{e.message}")
    end
  end
end
