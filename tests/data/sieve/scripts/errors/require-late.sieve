keep;
require "fileinto";
