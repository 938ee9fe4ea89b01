# frozen_string_literal: true

# An app's own file under a pushpoll directory: the Railtie's inflection makes
# the autoloader expect PushPoll::Feed here, in the gem's namespace.
module PushPoll
  class Feed
  end
end
